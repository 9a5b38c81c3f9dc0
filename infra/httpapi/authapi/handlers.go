// Package authapi is the HTTP side of accounts and access: register, login, me and
// logout with the session cookie (D1), API tokens (D22), OAuth (D19) and device-code
// pairing (D18). The area is assembled in infra/app; this package only translates
// requests to the commands and queries it is given.
package authapi

import (
	"time"

	cmdaccounts "github.com/devflow/backend/commands/accounts"
	cmdpairing "github.com/devflow/backend/commands/pairing"
	"github.com/devflow/backend/infra/config"
	"github.com/devflow/backend/infra/oauth"
	qaccounts "github.com/devflow/backend/queries/accounts"
)

// Handlers are what the endpoints call.
type Handlers struct {
	Config  config.Config // cookie security, redirect targets, the pairing page
	Now     func() time.Time
	OAuth   *oauth.Client
	Queries *qaccounts.Queries

	Register    cmdaccounts.RegisterHandler
	Login       cmdaccounts.LoginHandler
	SignInOAuth cmdaccounts.SignInOAuthHandler
	IssueToken  cmdaccounts.IssueTokenHandler
	RevokeToken cmdaccounts.RevokeTokenHandler
	SetTimeZone cmdaccounts.SetTimeZoneHandler

	StartPairing    cmdpairing.StartHandler
	ApprovePairing  cmdpairing.ApproveHandler
	ExchangePairing cmdpairing.ExchangeHandler
}
