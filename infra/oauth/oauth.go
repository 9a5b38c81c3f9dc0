// Package oauth signs users in through Google and GitHub: the authorization-code flow
// with PKCE (S256), states stored durably in PostgreSQL with a 5-minute TTL and single
// use (decision D19), the code exchange and the profile mapping of contract 3.8.
// golang.org/x/oauth2 makes the verifier, the challenge and the code exchange (its
// token-response parsing covers GitHub's 200-with-error answers); the profile fetches
// are plain requests. Provider endpoints are configurable so that tests can point
// them at a local fake.
package oauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	cmdaccounts "github.com/devflow/backend/commands/accounts"
	"github.com/devflow/backend/domain/accounts"
)

// Named errors, each mapped to one answer of the contract.
var (
	ErrUnsupportedProvider = errors.New("unsupported provider")     // 400 Unsupported provider
	ErrInvalidState        = errors.New("invalid or expired state") // 400 Invalid or expired state
	ErrProviderRequest     = errors.New("provider request failed")  // 502 Provider request failed
)

// StateTTL is how long an OAuth state can be used.
const StateTTL = 5 * time.Minute

// Client types: the VS Code deep-link flow or the web (cookie) flow.
const (
	ClientWeb    = "web"
	ClientVSCode = "vscode"
)

// Endpoints are a provider's URLs.
type Endpoints struct {
	AuthorizeURL string
	TokenURL     string
	ProfileURL   string
	EmailsURL    string // GitHub only: the user's email list
}

// The real providers.
var (
	GoogleEndpoints = Endpoints{
		AuthorizeURL: "https://accounts.google.com/o/oauth2/v2/auth",
		TokenURL:     "https://oauth2.googleapis.com/token",
		ProfileURL:   "https://www.googleapis.com/oauth2/v3/userinfo",
	}
	GitHubEndpoints = Endpoints{
		AuthorizeURL: "https://github.com/login/oauth/authorize",
		TokenURL:     "https://github.com/login/oauth/access_token",
		ProfileURL:   "https://api.github.com/user",
		EmailsURL:    "https://api.github.com/user/emails",
	}
)

var scopes = map[accounts.Provider]string{
	accounts.ProviderGoogle: "openid email profile",
	accounts.ProviderGitHub: "read:user user:email",
}

// ProviderConfig is one provider's registration.
type ProviderConfig struct {
	ClientID     string
	ClientSecret string
	Endpoints    Endpoints
}

// Config configures the client. Zero Endpoints default to the real providers.
type Config struct {
	CallbackBaseURL string // OAUTH_CALLBACK_BASE_URL
	Google          ProviderConfig
	GitHub          ProviderConfig
	HTTPClient      *http.Client // default: 10 s timeout
}

// Client runs the flows.
type Client struct {
	cfg    Config
	states *States
}

// NewClient builds the client over a state store.
func NewClient(cfg Config, states *States) *Client {
	if cfg.Google.Endpoints == (Endpoints{}) {
		cfg.Google.Endpoints = GoogleEndpoints
	}
	if cfg.GitHub.Endpoints == (Endpoints{}) {
		cfg.GitHub.Endpoints = GitHubEndpoints
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	// Every provider call asks for JSON (contract 3.8): GitHub's token endpoint answers
	// form-encoded otherwise, and x/oauth2 sets no Accept header of its own.
	client := *cfg.HTTPClient
	client.Transport = acceptJSON{client.Transport}
	cfg.HTTPClient = &client
	return &Client{cfg: cfg, states: states}
}

// acceptJSON sets Accept: application/json on every request.
type acceptJSON struct{ next http.RoundTripper }

func (t acceptJSON) RoundTrip(req *http.Request) (*http.Response, error) {
	next := t.next
	if next == nil {
		next = http.DefaultTransport
	}
	req = req.Clone(req.Context())
	req.Header.Set("Accept", "application/json")
	return next.RoundTrip(req)
}

// provider returns the configuration of an enabled provider: known, with a client id,
// and with a callback base to build redirect_uri from.
func (c *Client) provider(name string) (accounts.Provider, ProviderConfig, error) {
	p, ok := accounts.ParseOAuthProvider(name)
	if !ok || c.cfg.CallbackBaseURL == "" {
		return "", ProviderConfig{}, ErrUnsupportedProvider
	}
	pc := c.cfg.Google
	if p == accounts.ProviderGitHub {
		pc = c.cfg.GitHub
	}
	if pc.ClientID == "" {
		return "", ProviderConfig{}, ErrUnsupportedProvider
	}
	return p, pc, nil
}

func (c *Client) redirectURI(p accounts.Provider) string {
	return c.cfg.CallbackBaseURL + "/api/v1/auth/" + string(p) + "/callback"
}

// Start stores a new state for the flow and returns the provider's authorize URL.
// clientType "vscode" selects the VS Code flow, anything else the web flow; display
// "html" is remembered, anything else is dropped.
func (c *Client) Start(ctx context.Context, providerName, clientType, display string) (string, error) {
	p, pc, err := c.provider(providerName)
	if err != nil {
		return "", err
	}
	if clientType != ClientVSCode {
		clientType = ClientWeb
	}
	if display != "html" {
		display = ""
	}
	st := State{
		State: randomString(16), Provider: p, ClientType: clientType, Display: display,
		CodeVerifier: oauth2.GenerateVerifier(),
	}
	if err := c.states.Create(ctx, st); err != nil {
		return "", err
	}
	// Built by hand to keep the parameter order of the contract's example.
	q := []string{
		"client_id=" + url.QueryEscape(pc.ClientID),
		"redirect_uri=" + url.QueryEscape(c.redirectURI(p)),
		"response_type=code",
		"scope=" + url.QueryEscape(scopes[p]),
		"state=" + url.QueryEscape(st.State),
		"code_challenge=" + oauth2.S256ChallengeFromVerifier(st.CodeVerifier),
		"code_challenge_method=S256",
	}
	sep := "?"
	if strings.Contains(pc.Endpoints.AuthorizeURL, "?") {
		sep = "&"
	}
	return pc.Endpoints.AuthorizeURL + sep + strings.Join(q, "&"), nil
}

// Callback consumes the state and exchanges the code for the user's profile. It
// returns the profile and the client type the flow started with.
func (c *Client) Callback(ctx context.Context, providerName, state, code string) (cmdaccounts.Profile, string, error) {
	st, err := c.states.Consume(ctx, state)
	if err != nil {
		return cmdaccounts.Profile{}, "", err
	}
	if string(st.Provider) != providerName {
		return cmdaccounts.Profile{}, "", ErrInvalidState
	}
	p, pc, err := c.provider(providerName)
	if err != nil {
		return cmdaccounts.Profile{}, "", ErrProviderRequest // disabled since the flow started
	}
	accessToken, err := c.exchange(ctx, p, pc, code, st.CodeVerifier)
	if err != nil {
		return cmdaccounts.Profile{}, "", err
	}
	var profile cmdaccounts.Profile
	if p == accounts.ProviderGoogle {
		profile, err = c.googleProfile(ctx, pc, accessToken)
	} else {
		profile, err = c.githubProfile(ctx, pc, accessToken)
	}
	return profile, st.ClientType, err
}

// exchange trades the code for an access token. The client id and secret travel in
// the form (contract 3.8), not in a Basic header.
func (c *Client) exchange(ctx context.Context, p accounts.Provider, pc ProviderConfig, code, verifier string) (string, error) {
	conf := oauth2.Config{
		ClientID: pc.ClientID, ClientSecret: pc.ClientSecret, RedirectURL: c.redirectURI(p),
		Endpoint: oauth2.Endpoint{TokenURL: pc.Endpoints.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
	}
	token, err := conf.Exchange(context.WithValue(ctx, oauth2.HTTPClient, c.cfg.HTTPClient), code, oauth2.VerifierOption(verifier))
	if err != nil {
		// Only the status goes into the error: a provider's answer may hold codes and
		// tokens, and the error is logged.
		var failed *oauth2.RetrieveError
		var network *url.Error
		switch {
		case errors.As(err, &failed) && failed.Response != nil:
			return "", fmt.Errorf("%w: token: status %d %s", ErrProviderRequest, failed.Response.StatusCode, failed.ErrorCode)
		case errors.As(err, &network):
			return "", fmt.Errorf("%w: token: network error", ErrProviderRequest)
		}
		return "", fmt.Errorf("%w: token: no access_token", ErrProviderRequest)
	}
	return token.AccessToken, nil
}

// getJSON fetches a profile resource with the access token.
func (c *Client) getJSON(ctx context.Context, rawURL, accessToken string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrProviderRequest, err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("User-Agent", "devflow-backend")
	return c.do(req, into)
}

// do sends req and decodes a 2xx JSON answer; anything else is ErrProviderRequest.
// Provider answers are never logged: they may hold codes and tokens.
func (c *Client) do(req *http.Request, into any) error {
	res, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s %s: network error", ErrProviderRequest, req.Method, req.URL.Host)
	}
	defer res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("%w: %s %s: status %d", ErrProviderRequest, req.Method, req.URL.Host, res.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(into); err != nil {
		return fmt.Errorf("%w: %s %s: bad JSON", ErrProviderRequest, req.Method, req.URL.Host)
	}
	return nil
}

func (c *Client) googleProfile(ctx context.Context, pc ProviderConfig, accessToken string) (cmdaccounts.Profile, error) {
	var u struct {
		Sub   string `json:"sub"`
		Email string `json:"email"`
		Name  string `json:"name"`
	}
	if err := c.getJSON(ctx, pc.Endpoints.ProfileURL, accessToken, &u); err != nil {
		return cmdaccounts.Profile{}, err
	}
	if u.Sub == "" {
		return cmdaccounts.Profile{}, fmt.Errorf("%w: profile without sub", ErrProviderRequest)
	}
	base := u.Name
	if base == "" && u.Email != "" {
		base = accounts.LocalPart(u.Email)
	}
	if base == "" {
		base = "google-" + firstChars(u.Sub, 8)
	}
	return cmdaccounts.Profile{Provider: accounts.ProviderGoogle, ProviderUserID: u.Sub, Email: optional(u.Email), BaseName: base}, nil
}

func (c *Client) githubProfile(ctx context.Context, pc ProviderConfig, accessToken string) (cmdaccounts.Profile, error) {
	var u struct {
		ID    json.Number `json:"id"`
		Login string      `json:"login"`
		Email string      `json:"email"`
	}
	if err := c.getJSON(ctx, pc.Endpoints.ProfileURL, accessToken, &u); err != nil {
		return cmdaccounts.Profile{}, err
	}
	if u.ID == "" {
		return cmdaccounts.Profile{}, fmt.Errorf("%w: profile without id", ErrProviderRequest)
	}
	id := u.ID.String()
	email := optional(u.Email)
	if email == nil && pc.Endpoints.EmailsURL != "" {
		email = c.githubEmail(ctx, pc, accessToken)
	}
	base := u.Login
	if base == "" {
		base = "github-" + id
	}
	return cmdaccounts.Profile{Provider: accounts.ProviderGitHub, ProviderUserID: id, Email: email, BaseName: base}, nil
}

// githubEmail picks the first primary verified email, else the first verified one.
// The email is informative only, so a failing list means no email, not a failed
// sign-in.
func (c *Client) githubEmail(ctx context.Context, pc ProviderConfig, accessToken string) *string {
	var list []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if err := c.getJSON(ctx, pc.Endpoints.EmailsURL, accessToken, &list); err != nil {
		return nil
	}
	for _, e := range list {
		if e.Primary && e.Verified && e.Email != "" {
			return &e.Email
		}
	}
	for _, e := range list {
		if e.Verified && e.Email != "" {
			return &e.Email
		}
	}
	return nil
}

// randomString is base64url (no padding) of n random bytes.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func firstChars(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		r = r[:n]
	}
	return string(r)
}
