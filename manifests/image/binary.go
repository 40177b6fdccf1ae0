package main

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"strings"

	"github.com/svcmirror/svcmirror/manifests/image/oci"
)

// binaryInfo is what the image needs to know about the binary it holds.
type binaryInfo struct {
	platform oci.Platform
}

// inspectBinary reads the binary's Go build information and ELF headers. It refuses a
// binary that is not a static Linux executable, because a scratch image has no dynamic
// loader or C library to run anything else: the container would fail with a bare "no such
// file or directory" at start. (The version the binary was stamped with cannot be checked
// against -version: with -trimpath the Go toolchain does not record -ldflags.)
func inspectBinary(bin []byte) (binaryInfo, error) {
	info, err := buildinfo.Read(bytes.NewReader(bin))
	if err != nil {
		return binaryInfo{}, fmt.Errorf("not a Go binary: %w", err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["GOOS"] != "linux" {
		return binaryInfo{}, fmt.Errorf("built for GOOS %q; the image needs a linux binary", settings["GOOS"])
	}
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return binaryInfo{}, fmt.Errorf("not an ELF executable: %w", err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return binaryInfo{}, errors.New("dynamically linked (it names an ELF interpreter); build it with CGO_ENABLED=0 (make build does)")
		}
	}
	p, err := platformOf(settings)
	if err != nil {
		return binaryInfo{}, err
	}
	return binaryInfo{platform: p}, nil
}

// platformOf is the image platform of a binary built with the given build settings (as
// debug/buildinfo reports them).
func platformOf(settings map[string]string) (oci.Platform, error) {
	p := oci.Platform{OS: settings["GOOS"], Architecture: settings["GOARCH"]}
	if p.Architecture == "" {
		return oci.Platform{}, errors.New("its build information has no GOARCH")
	}
	// The image specification names ARM versions as variants ("v7"); GOARM may carry a
	// float mode after a comma ("7,softfloat").
	if goarm, _, _ := strings.Cut(settings["GOARM"], ","); p.Architecture == "arm" && goarm != "" {
		p.Variant = "v" + goarm
	}
	return p, nil
}
