// Package migrations holds devFlow's SQL schema migrations, embedded into the binary and
// run by goose (`devflow migrate`, and on `serve` start unless MIGRATE_ON_START=false).
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS
