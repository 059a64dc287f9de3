package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/loom-yarn/loom/deploy"
	"github.com/loom-yarn/loom/deploy/controlpb"
	"github.com/loom-yarn/loom/hdfs"
	"github.com/loom-yarn/loom/yarn"
	"github.com/loom-yarn/loom/yarn/ipc"
	"github.com/loom-yarn/loom/yarn/proto/yarnpb"
)

// savepointTimeout bounds how long loom savepoint and loom stop wait for
// the savepoint by default.
const savepointTimeout = 10 * time.Minute

func newSavepointCommand(stdout io.Writer) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "savepoint APP_ID DIR",
		Short: "Take a savepoint of a running job into DIR (an hdfs:// URI); the job goes on",
		Long: "Take a savepoint of a running loom application: a self-contained copy of its state in a directory of its own,\n" +
			"which `loom submit --from-savepoint` or `loom run --from-savepoint` restores, at another parallelism too.",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageError{fmt.Errorf("%s needs an application id and a target directory, got %d arguments", cmd.CommandPath(), len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := savepointOf(cmd.Context(), args[0], &controlpb.SavepointRequest{Target: args[1]}, timeout)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "savepoint %d of %s written to %s\n", res.GetCheckpoint(), args[0], res.GetPath())
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", savepointTimeout, "how long to wait for the savepoint")
	return cmd
}

func newStopCommand(stdout, stderr io.Writer) *cobra.Command {
	var target string
	var drain bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "stop APP_ID --savepoint DIR [--drain]",
		Short: "Stop a running job with a savepoint into DIR and wait until it finished",
		Long: "Stop a running loom application with a savepoint: the sources emit nothing after its barrier, sinks commit\n" +
			"everything up to it, the job finishes SUCCEEDED. With --drain the sources first advance their watermarks to\n" +
			"the end of time, so every event-time window and timer fires (for a job that will not be resumed).",
		Args: oneAppID,
		RunE: func(cmd *cobra.Command, args []string) error {
			if target == "" {
				return usageError{errors.New("loom stop needs --savepoint DIR (an hdfs:// URI): the job's state goes there")}
			}
			res, err := savepointOf(cmd.Context(), args[0], &controlpb.SavepointRequest{Target: target, Stop: true, Drain: drain}, timeout)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "savepoint %d of %s written to %s; the job is stopping\n", res.GetCheckpoint(), args[0], res.GetPath())
			id, _ := yarn.ParseApplicationID(args[0])
			rm, _, _, err := rmFromEnv()
			if err != nil {
				return err
			}
			defer rm.Close()
			f := &follower{rm: rm, id: id, appID: args[0], stdout: stdout, stderr: stderr}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			rep, err := f.untilAccepted(ctx)
			if err != nil {
				return err
			}
			if !isTerminal(rep.GetYarnApplicationState()) {
				if rep, err = f.follow(ctx, rep); err != nil {
					return err
				}
			}
			return f.outcome(rep)
		},
	}
	cmd.Flags().StringVar(&target, "savepoint", "", "directory (an hdfs:// URI) that receives the final savepoint")
	cmd.Flags().BoolVar(&drain, "drain", false, "advance every watermark to the end of time before the savepoint (fires all windows)")
	cmd.Flags().DurationVar(&timeout, "timeout", savepointTimeout, "how long to wait for the savepoint and the end of the job")
	return cmd
}

// savepointOf asks the ApplicationMaster of appID for a savepoint,
// proving the caller is the job's user with the application secret in the
// job's staging directory, which only that user reads.
func savepointOf(ctx context.Context, appID string, req *controlpb.SavepointRequest, timeout time.Duration) (*controlpb.SavepointResponse, error) {
	if !strings.Contains(req.GetTarget(), "://") {
		return nil, usageError{fmt.Errorf("savepoint directory %q: the workers of a job on YARN write it, so it must be a file system they all reach: give an hdfs:// URI", req.GetTarget())}
	}
	id, err := yarn.ParseApplicationID(appID)
	if err != nil {
		return nil, usageError{err}
	}
	rm, ycfg, source, err := rmFromEnv()
	if err != nil {
		return nil, err
	}
	defer rm.Close()
	callCtx, cancel := context.WithTimeout(ctx, rmCallTimeout)
	rep, err := rm.GetApplicationReport(callCtx, id)
	cancel()
	if ipc.IsApplicationNotFound(err) {
		return nil, fmt.Errorf("%s: the ResourceManager at %s does not know this application", appID, ycfg.RMAddress)
	}
	if err != nil {
		return nil, rmError("report of "+appID, ycfg.RMAddress, source, err)
	}
	if st := rep.GetYarnApplicationState(); st != yarnpb.YarnApplicationStateProto_RUNNING {
		return nil, fmt.Errorf("%s is %s, not RUNNING: only a running job takes a savepoint", appID, st)
	}
	if rep.GetApplicationType() != deploy.ApplicationType {
		return nil, fmt.Errorf("%s is a %s application, not a loom job", appID, rep.GetApplicationType())
	}
	fs, err := hdfs.NewClient()
	if err != nil {
		return nil, fmt.Errorf("read the application secret: %w", err)
	}
	defer fs.Close()
	secretPath := StagingDir(rep.GetUser(), appID) + "/" + deploy.SecretFile
	f, err := fs.Open(secretPath)
	if err != nil {
		return nil, fmt.Errorf("read the application secret %s (only the job's user %s can): %w", secretPath, rep.GetUser(), err)
	}
	b, err := io.ReadAll(io.LimitReader(f, 1024))
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("read the application secret %s: %w", secretPath, err)
	}
	addr := net.JoinHostPort(rep.GetHost(), strconv.Itoa(int(rep.GetRpcPort())))
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("%s: ApplicationMaster at %s: %w", appID, addr, err)
	}
	defer conn.Close()
	sctx, cancel := context.WithTimeout(deploy.WithSecret(ctx, strings.TrimSpace(string(b))), timeout)
	defer cancel()
	res, err := controlpb.NewControlClient(conn).Savepoint(sctx, req)
	if err != nil {
		if s, ok := status.FromError(err); ok {
			return nil, fmt.Errorf("%s: savepoint into %s: %s (%s, ApplicationMaster at %s)", appID, req.GetTarget(), s.Message(), s.Code(), addr)
		}
		return nil, fmt.Errorf("%s: savepoint into %s: %w", appID, req.GetTarget(), err)
	}
	return res, nil
}
