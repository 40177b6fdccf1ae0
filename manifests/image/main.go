// Command image writes svcmirror's container image as an OCI image archive, with the
// standard library only and without a container engine or the network: `make image` runs
// it on the static binary `make build` made. The image is built from scratch: the binary at
// /svcmirror, run as the non-root user 65532, and /etc/passwd and /etc/group naming that
// user. The same binary, version, revision and commit time give the same archive bytes.
//
//	go run ./manifests/image -binary bin/svcmirror -version v1.2.3 -revision <commit> \
//		-source-date-epoch <commit time> -o bin/svcmirror-image.tar
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

// runMain parses args, writes the archive and returns the exit code, so tests can call it.
func runMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.binary, "binary", "bin/svcmirror", "the static svcmirror binary to put in the image")
	fs.StringVar(&o.output, "o", "bin/svcmirror-image.tar", "the archive to write")
	fs.StringVar(&o.name, "name", "svcmirror", "the image's repository name (docker load and podman load tag it name:version)")
	fs.StringVar(&o.version, "version", "", "the version the binary was stamped with (label org.opencontainers.image.version, and the tag)")
	fs.StringVar(&o.revision, "revision", "", "the source's commit (label org.opencontainers.image.revision)")
	fs.StringVar(&o.source, "source", defaultSource, "where the source lives (label org.opencontainers.image.source)")
	fs.StringVar(&o.license, "license", "", "an SPDX license expression (label org.opencontainers.image.licenses); none when empty")
	fs.Int64Var(&o.sourceDateEpoch, "source-date-epoch", 0, "the commit time in Unix seconds: the image's creation time and every file time in it")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "image: unexpected arguments %q\n", fs.Args())
		return 2
	}
	written, err := writeImage(o)
	if err != nil {
		fmt.Fprintf(stderr, "image: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "Wrote %s: %s, manifest %s, %d bytes\n", o.output, written.reference, written.manifestDigest, written.size)
	return 0
}
