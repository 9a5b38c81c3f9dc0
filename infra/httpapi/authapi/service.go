// Package authapi is the HTTP side of accounts and access: register, login, me and
// logout with the session cookie (D1), API tokens (D22), OAuth (D19) and device-code
// pairing (D18). Its fx Module provides the request Authenticator, the routes and the
// background work (coalesced last-used writes, the 5-minute cleanup).
package authapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/fx"

	cmdaccounts "github.com/devflow/backend/commands/accounts"
	cmdpairing "github.com/devflow/backend/commands/pairing"
	"github.com/devflow/backend/infra/auth"
	"github.com/devflow/backend/infra/config"
	"github.com/devflow/backend/infra/httpapi"
	"github.com/devflow/backend/infra/oauth"
	"github.com/devflow/backend/infra/postgres"
	qaccounts "github.com/devflow/backend/queries/accounts"
)

// Module wires accounts and access into the app.
var Module = fx.Module("auth",
	fx.Provide(
		provideService,
		func(s *Service) httpapi.Authenticator { return s.authenticator },
		fx.Annotate(NewRoutes, fx.ResultTags(`group:"routes"`), fx.As(new(httpapi.Routes))),
	),
	fx.Invoke(func(lc fx.Lifecycle, s *Service) {
		var stop context.CancelFunc
		done := make(chan struct{})
		lc.Append(fx.Hook{
			OnStart: func(context.Context) error {
				var ctx context.Context
				ctx, stop = context.WithCancel(context.Background())
				go func() { defer close(done); s.Run(ctx) }()
				return nil
			},
			OnStop: func(ctx context.Context) error {
				stop()
				select {
				case <-done:
				case <-ctx.Done():
				}
				return nil
			},
		})
	}),
)

func provideService(cfg config.Config, pool *pgxpool.Pool, events *postgres.EventStore, log *slog.Logger) (*Service, error) {
	return NewService(cfg, auth.DB{Pool: pool, Events: events}, log, Options{})
}

// Options are what tests change; the zero value is production.
type Options struct {
	Now             func() time.Time // default time.Now
	GoogleEndpoints oauth.Endpoints  // default: Google's
	GitHubEndpoints oauth.Endpoints  // default: GitHub's
	HTTPClient      *http.Client     // for provider calls; default: 10 s timeout
}

// Service holds the auth area's parts, built once from the configuration.
type Service struct {
	cfg           config.Config
	log           *slog.Logger
	now           func() time.Time
	authenticator *auth.Authenticator
	lastUsed      *auth.LastUsed
	cleanup       *auth.Cleanup
	jwt           *auth.JWT
	oauth         *oauth.Client
	queries       *qaccounts.Queries

	register    cmdaccounts.RegisterHandler
	login       cmdaccounts.LoginHandler
	signInOAuth cmdaccounts.SignInOAuthHandler
	issueToken  cmdaccounts.IssueTokenHandler
	revokeToken cmdaccounts.RevokeTokenHandler
	setTimeZone cmdaccounts.SetTimeZoneHandler

	startPairing    cmdpairing.StartHandler
	approvePairing  cmdpairing.ApproveHandler
	exchangePairing cmdpairing.ExchangeHandler
}

// NewService builds the area; it fails without JWT_SECRET.
func NewService(cfg config.Config, db auth.DB, log *slog.Logger, opts Options) (*Service, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	jwt, err := auth.NewJWT(cfg.JWTSecret, now)
	if err != nil {
		return nil, err
	}
	users, tokens, failures, pairings := auth.NewUsers(db), auth.NewTokens(db), auth.NewFailedLogins(db), auth.NewPairings(db)
	passwords := auth.Passwords{}
	states := oauth.NewStates(db.Pool, now)
	lastUsed := auth.NewLastUsed(db.Pool, log, now)
	return &Service{
		cfg: cfg, log: log, now: now,
		authenticator: auth.NewAuthenticator(db.Pool, jwt, lastUsed),
		lastUsed:      lastUsed,
		cleanup:       auth.NewCleanup(db.Pool, cmdpairing.NewCleanupHandler(pairings, now), states, log, now),
		jwt:           jwt,
		oauth: oauth.NewClient(oauth.Config{
			CallbackBaseURL: cfg.OAuthCallbackBaseURL,
			Google:          oauth.ProviderConfig{ClientID: cfg.GoogleClientID, ClientSecret: cfg.GoogleClientSecret, Endpoints: opts.GoogleEndpoints},
			GitHub:          oauth.ProviderConfig{ClientID: cfg.GitHubClientID, ClientSecret: cfg.GitHubClientSecret, Endpoints: opts.GitHubEndpoints},
			HTTPClient:      opts.HTTPClient,
		}, states),
		queries: qaccounts.New(db.Pool),

		register:    cmdaccounts.NewRegisterHandler(users, passwords, jwt, now),
		login:       cmdaccounts.NewLoginHandler(users, failures, passwords, jwt, now),
		signInOAuth: cmdaccounts.NewSignInOAuthHandler(users, jwt, now),
		issueToken:  cmdaccounts.NewIssueTokenHandler(tokens, now),
		revokeToken: cmdaccounts.NewRevokeTokenHandler(tokens, now),
		setTimeZone: cmdaccounts.NewSetTimeZoneHandler(users, now),

		startPairing:    cmdpairing.NewStartHandler(pairings, now),
		approvePairing:  cmdpairing.NewApproveHandler(pairings, now),
		exchangePairing: cmdpairing.NewExchangeHandler(pairings, now),
	}, nil
}

// Authenticator is the request authenticator for httpapi.
func (s *Service) Authenticator() httpapi.Authenticator { return s.authenticator }

// Run does the background work until ctx ends: last-used writes and the cleanup job.
func (s *Service) Run(ctx context.Context) {
	done := make(chan struct{})
	go func() { defer close(done); s.lastUsed.Run(ctx) }()
	s.cleanup.Run(ctx)
	<-done
}
