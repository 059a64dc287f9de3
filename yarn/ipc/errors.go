package ipc

import (
	"errors"
	"fmt"
	"strings"
)

// Java exception classes loom reacts to. A server reports a failed call by
// the class name of the exception it threw; these are the ones callers
// branch on.
const (
	ClassAccessControl        = "org.apache.hadoop.security.AccessControlException"
	ClassInvalidToken         = "org.apache.hadoop.security.token.SecretManager$InvalidToken"
	ClassStandby              = "org.apache.hadoop.ipc.StandbyException"
	ClassRetriable            = "org.apache.hadoop.ipc.RetriableException"
	ClassRPCServer            = "org.apache.hadoop.ipc.RpcServerException"
	ClassNoSuchMethod         = "org.apache.hadoop.ipc.RpcNoSuchMethodException"
	ClassApplicationNotFound  = "org.apache.hadoop.yarn.exceptions.ApplicationNotFoundException"
	ClassAttemptNotFound      = "org.apache.hadoop.yarn.exceptions.ApplicationAttemptNotFoundException"
	ClassAMNotRegistered      = "org.apache.hadoop.yarn.exceptions.ApplicationMasterNotRegisteredException"
	ClassInvalidAMRequest     = "org.apache.hadoop.yarn.exceptions.InvalidApplicationMasterRequestException"
	ClassInvalidResourceAsk   = "org.apache.hadoop.yarn.exceptions.InvalidResourceRequestException"
	ClassInvalidContainerSpec = "org.apache.hadoop.yarn.exceptions.InvalidContainerRequestException"
	ClassYarn                 = "org.apache.hadoop.yarn.exceptions.YarnException"
)

// RemoteError is an exception a Hadoop server threw for a call (or for the
// connection, when Fatal). Class is the Java class name, which is what
// callers test; Message is the server's message, often with a stack trace.
type RemoteError struct {
	Class   string
	Message string
	// Code is Hadoop's RpcErrorCodeProto number (0 when the server sent none).
	Code int32
	// Fatal is set when the server closed the connection after the error.
	Fatal bool
}

// Error shows the short class name and the first line of the message; the
// rest of a Java stack trace rarely helps a loom user.
func (e *RemoteError) Error() string {
	msg := e.Message
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	short := e.Class
	if i := strings.LastIndexByte(short, '.'); i >= 0 {
		short = short[i+1:]
	}
	if msg == "" {
		return "remote " + short
	}
	return fmt.Sprintf("remote %s: %s", short, msg)
}

// HasClass reports whether err is, or wraps, a RemoteError of one of the
// given Java classes.
func HasClass(err error, classes ...string) bool {
	var re *RemoteError
	if !errors.As(err, &re) {
		return false
	}
	for _, c := range classes {
		if re.Class == c {
			return true
		}
	}
	return false
}

// IsAccessDenied reports whether the server refused the caller's identity
// or token: retrying with the same credentials will not help.
func IsAccessDenied(err error) bool {
	return HasClass(err, ClassAccessControl, ClassInvalidToken)
}

// IsRetriable reports whether the server asked the caller to try again
// (later, or at another ResourceManager in an HA pair).
func IsRetriable(err error) bool {
	return HasClass(err, ClassStandby, ClassRetriable)
}

// IsApplicationNotFound reports whether the RM does not know the application
// (never submitted, or forgotten after it finished).
func IsApplicationNotFound(err error) bool {
	return HasClass(err, ClassApplicationNotFound)
}

// IsNotRegistered reports whether the RM no longer knows the AM's
// registration (after an RM restart): the AM must register again.
func IsNotRegistered(err error) bool {
	return HasClass(err, ClassAMNotRegistered)
}

// ErrClosed is returned by calls on a Client after Close.
var ErrClosed = errors.New("ipc: client closed")
