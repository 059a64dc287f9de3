// Package cli is loom's command line: `loom run`, `loom jobs`, `loom version`
// (and later `loom submit`). A user's job binary gets the same commands by
// calling Main.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	// HDFS paths (hdfs://...) work in every file connector of every job.
	_ "github.com/loom-yarn/loom/hdfs"
)

// Version is loom's version, set at build time with -ldflags.
var Version = "0.1.0-dev"

// Main runs the command line and exits with its status: 0 on success, 1 when
// the job or command failed, 2 for usage errors.
func Main() {
	os.Exit(Run(os.Args[1:], os.Stdout, os.Stderr))
}

// Run runs the command line with args and returns the exit status.
func Run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := NewRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "loom: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// usageError marks an error in how a command was called.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

// NewRoot builds the command tree.
func NewRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "loom",
		Short:         "loom: a YARN-native stream and batch processing engine",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%s: %w (see %s --help)", c.CommandPath(), err, c.CommandPath())}
	})
	// Every command's flags are parsed before this runs: one place refuses
	// non-finite numbers for every float flag of every job and command.
	root.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		if err := finiteFloatFlags(c.Flags()); err != nil {
			return usageError{fmt.Errorf("%s: %w (see %s --help)", c.CommandPath(), err, c.CommandPath())}
		}
		return nil
	}
	root.AddCommand(newRunCommand(stdout, stderr), newJobsCommand(stdout), newVersionCommand(stdout),
		newSubmitCommand(stdout, stderr), newListCommand(stdout), newStatusCommand(stdout), newKillCommand(stdout, stderr),
		newSavepointCommand(stdout), newStopCommand(stdout, stderr),
		newAMCommand(stderr), newWorkerCommand(stderr))
	return root
}

func newVersionCommand(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print loom's version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintf(stdout, "loom %s\n", Version)
			return nil
		},
	}
}

// finiteFloatFlags refuses a float flag set to NaN or an infinity, which
// strconv (and so pflag) parses: "--rate Inf" made a generator's pacing
// wait forever. No loom or job flag means anything by them.
func finiteFloatFlags(fs *pflag.FlagSet) error {
	var bad error
	fs.Visit(func(f *pflag.Flag) {
		if bad != nil {
			return
		}
		var values []string
		switch f.Value.Type() {
		case "float32", "float64":
			values = []string{f.Value.String()}
		case "float32Slice", "float64Slice":
			if sv, ok := f.Value.(pflag.SliceValue); ok {
				values = sv.GetSlice()
			}
		default:
			return
		}
		for _, v := range values {
			x, err := strconv.ParseFloat(v, 64)
			if err == nil && (math.IsNaN(x) || math.IsInf(x, 0)) {
				bad = fmt.Errorf("--%s %s: want a finite number", f.Name, v)
				return
			}
		}
	})
	return bad
}
