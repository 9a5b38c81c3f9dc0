package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/ids"
)

const testSecret = "test-secret-that-is-long-enough"

var jwtNow = time.Date(2026, 11, 27, 5, 37, 44, 0, time.UTC)

func fixedJWT(t *testing.T) *JWT {
	t.Helper()
	j, err := NewJWT(testSecret, func() time.Time { return jwtNow })
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func segment(t *testing.T, token string, i int) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestJWT_MintsExactlyTheContractClaims(t *testing.T) {
	j := fixedJWT(t)
	user := ids.New()
	tok, err := j.Mint(user, accounts.ProviderGitHub)
	if err != nil {
		t.Fatal(err)
	}
	h := segment(t, tok, 0)
	if len(h) != 2 || h["alg"] != "HS256" || h["typ"] != "JWT" {
		t.Fatalf("header %v", h)
	}
	c := segment(t, tok, 1)
	if len(c) != 4 || c["sub"] != user.String() || c["provider"] != "github" ||
		c["iat"] != float64(jwtNow.Unix()) || c["exp"] != float64(jwtNow.Unix()+604800) {
		t.Fatalf("claims %v", c)
	}
	gotUser, provider, err := j.Verify(tok)
	if err != nil || gotUser != user || provider != "github" {
		t.Fatalf("verify = %v %q %v", gotUser, provider, err)
	}
}

func TestJWT_RequiresSecret(t *testing.T) {
	if _, err := NewJWT("", nil); err == nil {
		t.Fatal("empty secret accepted")
	}
}

func sign(t *testing.T, method jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWT_RejectsEverythingButValidHS256(t *testing.T) {
	j := fixedJWT(t)
	user := ids.New().String()
	valid := jwt.MapClaims{"sub": user, "provider": "password", "iat": jwtNow.Unix(), "exp": jwtNow.Add(time.Hour).Unix()}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for key, val := range valid {
			c[key] = val
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	unsigned, _ := jwt.NewWithClaims(jwt.SigningMethodNone, valid).SignedString(jwt.UnsafeAllowNoneSignatureType)
	good := sign(t, jwt.SigningMethodHS256, []byte(testSecret), valid)

	cases := map[string]string{
		"alg none":            unsigned,
		"alg none, no dot":    strings.TrimSuffix(unsigned, "."),
		"HS384 same secret":   sign(t, jwt.SigningMethodHS384, []byte(testSecret), valid),
		"HS512 same secret":   sign(t, jwt.SigningMethodHS512, []byte(testSecret), valid),
		"RS256":               sign(t, jwt.SigningMethodRS256, rsaKey, valid),
		"wrong secret":        sign(t, jwt.SigningMethodHS256, []byte("other"), valid),
		"expired at now":      sign(t, jwt.SigningMethodHS256, []byte(testSecret), with("exp", jwtNow.Unix())),
		"expired a while ago": sign(t, jwt.SigningMethodHS256, []byte(testSecret), with("exp", jwtNow.Add(-time.Hour).Unix())),
		"no exp":              sign(t, jwt.SigningMethodHS256, []byte(testSecret), with("exp", nil)),
		"sub not a uuid":      sign(t, jwt.SigningMethodHS256, []byte(testSecret), with("sub", "42")),
		"no sub":              sign(t, jwt.SigningMethodHS256, []byte(testSecret), with("sub", nil)),
		"tampered payload":    strings.Split(good, ".")[0] + "." + strings.Split(sign(t, jwt.SigningMethodHS256, []byte("x"), with("sub", ids.New().String())), ".")[1] + "." + strings.Split(good, ".")[2],
		"garbage":             "not-a-jwt",
		"empty":               "",
	}
	for name, tok := range cases {
		if _, _, err := j.Verify(tok); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, _, err := j.Verify(good); err != nil {
		t.Fatalf("control token rejected: %v", err)
	}
}

func TestJWT_AcceptsNodeMintedToken(t *testing.T) {
	// jsonwebtoken.sign({sub, provider}, secret, {expiresIn: '7d'}) yields these claims;
	// an upper-case sub is still a UUID.
	user := ids.New()
	tok := sign(t, jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{
		"sub": strings.ToUpper(user.String()), "provider": "google",
		"iat": jwtNow.Add(-time.Hour).Unix(), "exp": jwtNow.Add(-time.Hour).Add(SessionLifetime).Unix(),
	})
	got, provider, err := fixedJWT(t).Verify(tok)
	if err != nil || got != user || provider != "google" {
		t.Fatalf("verify = %v %q %v", got, provider, err)
	}
}
