package app

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
	"github.com/devflow/backend/infra/httpapi/authapi"
	"github.com/devflow/backend/infra/oauth"
	"github.com/devflow/backend/infra/postgres"
	qaccounts "github.com/devflow/backend/queries/accounts"
)

// AuthModule is accounts and access: the request Authenticator, the auth routes and
// their background work (coalesced last-used writes, the 5-minute cleanup), run for
// the app's lifetime.
var AuthModule = fx.Module("auth",
	fx.Provide(
		func(cfg config.Config, pool *pgxpool.Pool, events *postgres.EventStore, log *slog.Logger) (*Auth, error) {
			return NewAuth(cfg, auth.DB{Pool: pool, Events: events}, log, AuthOptions{})
		},
		func(a *Auth) httpapi.Authenticator { return a.Authenticator },
		fx.Annotate(func(a *Auth, api *httpapi.API) httpapi.Routes { return authapi.NewRoutes(a.Handlers, api) }, fx.ResultTags(`group:"routes"`)),
	),
	fx.Invoke(func(lc fx.Lifecycle, a *Auth) { runInBackground(lc, a.Run) }),
)

// AuthOptions are what tests change; the zero value is production.
type AuthOptions struct {
	Now             func() time.Time // default time.Now
	GoogleEndpoints oauth.Endpoints  // default: Google's
	GitHubEndpoints oauth.Endpoints  // default: GitHub's
	HTTPClient      *http.Client     // for provider calls; default: 10 s timeout
}

// Auth is the accounts-and-access area, built once from the configuration.
type Auth struct {
	Handlers      authapi.Handlers
	Authenticator *auth.Authenticator
	LastUsed      *auth.LastUsed
	Cleanup       *auth.Cleanup
}

// NewAuth builds every account and pairing command over their PostgreSQL stores; it
// fails without JWT_SECRET.
func NewAuth(cfg config.Config, db auth.DB, log *slog.Logger, opts AuthOptions) (*Auth, error) {
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
	return &Auth{
		Authenticator: auth.NewAuthenticator(db.Pool, jwt, lastUsed),
		LastUsed:      lastUsed,
		Cleanup:       auth.NewCleanup(db.Pool, cmdpairing.NewCleanupHandler(pairings, now), states, log, now),
		Handlers: authapi.Handlers{
			Config: cfg, Now: now,
			OAuth: oauth.NewClient(oauth.Config{
				CallbackBaseURL: cfg.OAuthCallbackBaseURL,
				Google:          oauth.ProviderConfig{ClientID: cfg.GoogleClientID, ClientSecret: cfg.GoogleClientSecret, Endpoints: opts.GoogleEndpoints},
				GitHub:          oauth.ProviderConfig{ClientID: cfg.GitHubClientID, ClientSecret: cfg.GitHubClientSecret, Endpoints: opts.GitHubEndpoints},
				HTTPClient:      opts.HTTPClient,
			}, states),
			Queries: qaccounts.New(db.Pool),

			Register:    cmdaccounts.NewRegisterHandler(users, passwords, jwt, now),
			Login:       cmdaccounts.NewLoginHandler(users, failures, passwords, jwt, now),
			SignInOAuth: cmdaccounts.NewSignInOAuthHandler(users, jwt, now),
			IssueToken:  cmdaccounts.NewIssueTokenHandler(tokens, now),
			RevokeToken: cmdaccounts.NewRevokeTokenHandler(tokens, now),
			SetTimeZone: cmdaccounts.NewSetTimeZoneHandler(users, now),

			StartPairing:    cmdpairing.NewStartHandler(pairings, now),
			ApprovePairing:  cmdpairing.NewApproveHandler(pairings, now),
			ExchangePairing: cmdpairing.NewExchangeHandler(pairings, now),
		},
	}, nil
}

// Run does the background work until ctx ends: last-used writes and the cleanup job.
func (a *Auth) Run(ctx context.Context) {
	done := make(chan struct{})
	go func() { defer close(done); a.LastUsed.Run(ctx) }()
	a.Cleanup.Run(ctx)
	<-done
}

// runInBackground runs fn from the app's start until its stop, which cancels fn's
// context and waits for it (at most as long as the stop may take).
func runInBackground(lc fx.Lifecycle, fn func(context.Context)) {
	var stop context.CancelFunc
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			var ctx context.Context
			ctx, stop = context.WithCancel(context.Background())
			go func() { defer close(done); fn(ctx) }()
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
}
