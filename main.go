// Command svcmirror mirrors exported Services of a remote Kubernetes
// cluster into the local one, as a drop-in for Linkerd's per-Link service
// mirror controller. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/klog/v2"
)

// version is stamped at build time: -ldflags "-X main.version=...".
var version = "dev"

// command is one subcommand: its flags and what it does with them.
type command struct {
	name    string
	summary string
	flags   func(fs *flag.FlagSet) func(ctx context.Context) error
}

var commands = []command{
	{name: "version", summary: "print the version", flags: versionFlags},
	{name: "run", summary: "run the service mirror for one Link", flags: runFlags},
	{name: "install", summary: "print what one link needs on the source cluster (RBAC, Deployment, ...)", flags: installFlags},
	{name: "link", summary: "make read-only credentials on the target cluster and print the Link and Secret for the source", flags: linkFlags},
	{name: "check", summary: "check that a Link is healthy, from the source cluster", flags: checkFlags},
}

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

// runMain parses args and runs the chosen subcommand; it returns the exit
// code so that tests can call it.
func runMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		fs := flag.NewFlagSet("svcmirror "+c.name, flag.ContinueOnError)
		fs.SetOutput(stderr)
		klog.InitFlags(fs)
		run := c.flags(fs)
		if err := fs.Parse(args[1:]); err != nil {
			if err == flag.ErrHelp {
				return 0
			}
			return 2
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(stderr, "svcmirror %s: unexpected arguments %q\n", c.name, fs.Args())
			return 2
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		out, errOut = stdout, stderr
		if err := run(ctx); err != nil {
			if !errors.As(err, new(reportedError)) {
				klog.FromContext(ctx).Error(err, "Exiting", "command", c.name)
			}
			fmt.Fprintf(stderr, "svcmirror %s: %v\n", c.name, err)
			klog.Flush()
			return 1
		}
		klog.Flush()
		return 0
	}
	fmt.Fprintf(stderr, "svcmirror: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// reportedError is a failure that the command has already explained on
// errOut, such as failed checks: it sets the exit code and gets its one
// summary line, but is no error of the program to log.
type reportedError struct{ error }

// out is where subcommands print their results, errOut where they explain
// a failure beyond the one-line error.
var (
	out    io.Writer = os.Stdout
	errOut io.Writer = os.Stderr
)

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: svcmirror <command> [flags]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'svcmirror <command> -h' for a command's flags.")
}

func versionFlags(*flag.FlagSet) func(context.Context) error {
	return func(context.Context) error {
		_, err := fmt.Fprintln(out, version)
		return err
	}
}
