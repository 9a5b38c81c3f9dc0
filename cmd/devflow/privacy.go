package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/infra/app"
	"github.com/devflow/backend/infra/datakeys"
	"github.com/devflow/backend/infra/privacy"
	"github.com/devflow/backend/projections"
)

func usersCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Erase a user's data and prove it is gone"}
	cmd.AddCommand(&cobra.Command{
		Use:   "erase USER_ID",
		Short: "Erase a user: tokens, account, data key (their events become unreadable) and every read-model row",
		Args:  cobra.ExactArgs(1),
		RunE: withUser(func(ctx context.Context, s *privacy.Service, user ids.ID) error {
			if err := s.Erase(ctx, user); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "user %s erased; check with: devflow users verify-erased %s\n", user, user)
			return nil
		}),
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "verify-erased USER_ID",
		Short: "Look for any readable trace of an erased user in the log and in every schema; exit 1 if one is found",
		Args:  cobra.ExactArgs(1),
		RunE: withUser(func(ctx context.Context, s *privacy.Service, user ids.ID) error {
			report, err := s.Verify(ctx, user)
			if err != nil {
				return err
			}
			out := json.NewEncoder(os.Stdout)
			out.SetIndent("", "  ")
			if err := out.Encode(report); err != nil {
				return err
			}
			if !report.Clean() {
				return errors.New("traces of the user remain (listed above)")
			}
			return nil
		}),
	})
	return cmd
}

// withUser runs fn on the CLI's data layer for the USER_ID argument.
func withUser(fn func(ctx context.Context, s *privacy.Service, user ids.ID) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		user, err := ids.Parse(args[0])
		if err != nil {
			return fmt.Errorf("USER_ID %q is not a UUID", args[0])
		}
		var d app.Data
		return withApp(cmd.Context(), func(ctx context.Context) error {
			return fn(ctx, privacy.New(d.Pool, d.Events, d.Keyring, d.Engine, d.Log), user)
		}, &d)
	}
}

func keysCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage the master key of the users' data keys"}
	var newKeyFile string
	rotate := &cobra.Command{
		Use:   "rotate --new-key-file FILE",
		Short: "Re-wrap every data key with a new master key (no event is rewritten)",
		Long: `Re-wraps every user's data key, now wrapped by the configured master key (DATA_KEY or
DATA_KEY_FILE), with the key in FILE (base64 of 32 bytes), in one transaction. Then restart
every replica with the new key; run it once more afterwards to re-wrap keys that replicas
still on the old key made meanwhile.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if newKeyFile == "" {
				return errors.New("--new-key-file is required")
			}
			next, err := datakeys.ReadMasterKeyFile(newKeyFile)
			if err != nil {
				return fmt.Errorf("--new-key-file: %w", err)
			}
			var d app.Data
			return withApp(cmd.Context(), func(ctx context.Context) error {
				if d.Keyring == nil {
					return errors.New("no master key is configured: " + datakeys.ErrNoMasterKey.Error())
				}
				n, err := d.Keyring.Rotate(ctx, next)
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "re-wrapped %d data keys from master key %s to %s; now run every replica with the new key\n", n, d.Keyring.MasterKeyID(), next.ID)
				return nil
			}, &d)
		},
	}
	rotate.Flags().StringVar(&newKeyFile, "new-key-file", "", "file holding the new master key (base64 of 32 bytes)")
	cmd.AddCommand(rotate)
	return cmd
}

func encryptLogCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "encrypt",
		Short: "Encrypt, in place, the users' payloads of a log written before encryption was on (resumable)",
		RunE: func(cmd *cobra.Command, args []string) error {
			var d app.Data
			return withApp(cmd.Context(), func(ctx context.Context) error {
				if d.Keyring == nil {
					return errors.New("no master key is configured: " + datakeys.ErrNoMasterKey.Error())
				}
				report, finish := progressBar("encrypt event log")
				n, err := d.Keyring.EncryptLog(ctx, func(done, total int64) {
					report(projections.Progress{Applied: done, Total: total})
				})
				finish()
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "encrypted %d events\n", n)
				return nil
			}, &d)
		},
	}
}
