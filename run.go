package main

import (
	"context"
	"errors"
	"flag"
)

// runFlags declares `svcmirror run`'s flags. The engine arrives with its issue.
func runFlags(fs *flag.FlagSet) func(context.Context) error {
	return func(context.Context) error {
		return errors.New("not implemented yet")
	}
}
