package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/svcmirror/svcmirror/manifests/image/oci"
)

// standIn is a small static Go program that stands in for bin/svcmirror, built once by
// TestMain; standInDynamic is the same program linked against the C library.
var standIn, standInDynamic string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "image-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	standIn, standInDynamic = filepath.Join(dir, "static"), filepath.Join(dir, "dynamic")
	err = buildStandIns(dir)
	code := 1
	if err == nil {
		code = m.Run()
	} else {
		fmt.Fprintln(os.Stderr, err)
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildStandIns(dir string) error {
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module standin\n\ngo 1.26\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte("package main\n\nfunc main() { println(\"stand-in\") }\n"), 0o644); err != nil {
		return err
	}
	builds := []struct {
		out, cgo string
		flags    []string
	}{
		{standIn, "0", []string{"-trimpath", "-ldflags=-s -w"}},
		// External linking goes through the C compiler, which links the C library
		// dynamically: a binary that names an ELF interpreter.
		{standInDynamic, "1", []string{"-ldflags=-linkmode=external"}},
	}
	for _, b := range builds {
		cmd := exec.Command("go", append(append([]string{"build"}, b.flags...), "-o", b.out, ".")...)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "CGO_ENABLED="+b.cgo, "GOWORK=off", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("building the stand-in binary %s: %v\n%s", b.out, err, out)
		}
	}
	return nil
}

const (
	testVersion  = "v1.2.3-test"
	testRevision = "0123456789abcdef0123456789abcdef01234567"
	testEpoch    = 1795470154 // 2026-11-23T21:42:34Z
)

// makeImage runs the command as make image does, on the stand-in, and returns the archive.
func makeImage(t *testing.T, extra ...string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bin", "svcmirror-image.tar")
	args := append([]string{
		"-binary", standIn, "-o", out, "-version", testVersion, "-revision", testRevision,
		"-source-date-epoch", strconv.Itoa(testEpoch),
	}, extra...)
	var stdout, stderr bytes.Buffer
	if code := runMain(args, &stdout, &stderr); code != 0 {
		t.Fatalf("image %q: exit code %d\n%s", args, code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "Wrote "+out+": svcmirror:"+testVersion+", manifest sha256:") {
		t.Errorf("stdout = %q", stdout.String())
	}
	archive, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if leftovers, _ := filepath.Glob(out + ".*"); len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %q", leftovers)
	}
	return archive
}

// inspected is what inspectArchive found in an archive.
type inspected struct {
	index    oci.Index
	manifest oci.Manifest
	config   oci.ConfigFile
	docker   []oci.DockerManifest
	layer    []layerEntry
}

type layerEntry struct {
	name     string
	typeflag byte
	mode     int64
	uid, gid int
	mtime    time.Time
	data     string
}

// inspectArchive checks an archive on its own, without oci.Read, the code under test: every
// blob's SHA-256 matches its name, every descriptor's size and digest its blob, the media
// types are OCI's, the layer's uncompressed digest is the config's diff_id, and manifest.json
// points at the same blobs. It returns the documents and the layer's entries.
func inspectArchive(t *testing.T, archive []byte) inspected {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name] = data
	}
	for name, data := range files {
		if hexDigest, ok := strings.CutPrefix(name, "blobs/sha256/"); ok && hexDigest != "" {
			if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != hexDigest {
				t.Errorf("blob %s has SHA-256 %x", name, sum)
			}
		}
	}
	decode := func(what string, data []byte, v any) {
		t.Helper()
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	blob := func(what string, d oci.Descriptor, mediaType string) []byte {
		t.Helper()
		if d.MediaType != mediaType {
			t.Errorf("%s media type = %q, want %q", what, d.MediaType, mediaType)
		}
		data, ok := files["blobs/sha256/"+strings.TrimPrefix(d.Digest, "sha256:")]
		if !ok {
			t.Fatalf("%s: no blob %s", what, d.Digest)
		}
		if int64(len(data)) != d.Size {
			t.Errorf("%s: descriptor size %d, blob %d bytes", what, d.Size, len(data))
		}
		return data
	}

	var in inspected
	var layout map[string]string
	decode("oci-layout", files["oci-layout"], &layout)
	if layout["imageLayoutVersion"] != "1.0.0" {
		t.Errorf("oci-layout = %v", layout)
	}
	decode("index.json", files["index.json"], &in.index)
	if in.index.SchemaVersion != 2 || in.index.MediaType != "application/vnd.oci.image.index.v1+json" || len(in.index.Manifests) != 1 {
		t.Fatalf("index.json = %+v", in.index)
	}
	decode("manifest", blob("index's manifest", in.index.Manifests[0], "application/vnd.oci.image.manifest.v1+json"), &in.manifest)
	if in.manifest.SchemaVersion != 2 || in.manifest.MediaType != "application/vnd.oci.image.manifest.v1+json" || len(in.manifest.Layers) != 1 {
		t.Fatalf("manifest = %+v", in.manifest)
	}
	decode("config", blob("config", in.manifest.Config, "application/vnd.oci.image.config.v1+json"), &in.config)
	zr, err := gzip.NewReader(bytes.NewReader(blob("layer", in.manifest.Layers[0], "application/vnd.oci.image.layer.v1.tar+gzip")))
	if err != nil {
		t.Fatal(err)
	}
	layer, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(layer); !slices.Equal(in.config.RootFS.DiffIDs, []string{"sha256:" + hex.EncodeToString(sum[:])}) {
		t.Errorf("config diff_ids = %q, the layer's digest is sha256:%x", in.config.RootFS.DiffIDs, sum)
	}
	lr := tar.NewReader(bytes.NewReader(layer))
	for {
		hdr, err := lr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(lr)
		if err != nil {
			t.Fatal(err)
		}
		in.layer = append(in.layer, layerEntry{hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.Gid, hdr.ModTime, string(data)})
	}
	decode("manifest.json", files["manifest.json"], &in.docker)
	if len(in.docker) != 1 || in.docker[0].Config != "blobs/sha256/"+strings.TrimPrefix(in.manifest.Config.Digest, "sha256:") ||
		!slices.Equal(in.docker[0].Layers, []string{"blobs/sha256/" + strings.TrimPrefix(in.manifest.Layers[0].Digest, "sha256:")}) {
		t.Errorf("manifest.json = %+v, manifest = %+v", in.docker, in.manifest)
	}
	return in
}

// TestImageOfStandInBinary runs what make image runs on a stand-in binary and checks the
// whole image: its only layer, user, entrypoint, labels, platform and names.
func TestImageOfStandInBinary(t *testing.T) {
	bin, err := os.ReadFile(standIn)
	if err != nil {
		t.Fatal(err)
	}
	in := inspectArchive(t, makeImage(t, "-license", "Apache-2.0"))
	created := time.Unix(testEpoch, 0)

	want := []layerEntry{
		{"etc/", tar.TypeDir, 0o755, 0, 0, created, ""},
		{"etc/group", tar.TypeReg, 0o644, 0, 0, created, string(group)},
		{"etc/passwd", tar.TypeReg, 0o644, 0, 0, created, string(passwd)},
		{"svcmirror", tar.TypeReg, 0o755, 0, 0, created, string(bin)},
	}
	if len(in.layer) != len(want) {
		t.Errorf("layer has %d entries, want %d", len(in.layer), len(want))
	}
	for i := range min(len(in.layer), len(want)) {
		got, w := in.layer[i], want[i]
		if got.name != w.name || got.typeflag != w.typeflag || got.mode != w.mode || got.uid != w.uid || got.gid != w.gid ||
			!got.mtime.Equal(w.mtime) || got.data != w.data {
			t.Errorf("layer entry %d = %s type %c mode %o owner %d:%d mtime %s (%d bytes), want %s type %c mode %o owner %d:%d mtime %s (%d bytes)",
				i, got.name, got.typeflag, got.mode, got.uid, got.gid, got.mtime, len(got.data),
				w.name, w.typeflag, w.mode, w.uid, w.gid, w.mtime, len(w.data))
		}
	}
	// The user the image runs as has a name, and the file is what engines read.
	if !strings.Contains(string(passwd), "\nnonroot:x:65532:65532:") || !strings.Contains(string(group), "\nnonroot:x:65532:") {
		t.Errorf("passwd %q or group %q lacks the nonroot user 65532", passwd, group)
	}

	c := in.config
	if c.OS != "linux" || c.Architecture != runtime.GOARCH || c.Created != "2026-11-23T21:42:34Z" {
		t.Errorf("config os %q architecture %q created %q, want linux %q 2026-11-23T21:42:34Z", c.OS, c.Architecture, c.Created, runtime.GOARCH)
	}
	if p := in.index.Manifests[0].Platform; p == nil || p.OS != "linux" || p.Architecture != runtime.GOARCH {
		t.Errorf("index platform = %+v", p)
	}
	if c.Config.User != "65532:65532" || !slices.Equal(c.Config.Entrypoint, []string{"/svcmirror"}) || c.Config.Cmd != nil || len(c.Config.Env) != 0 {
		t.Errorf("container config = %+v, want user 65532:65532, entrypoint [/svcmirror], no cmd, no env", c.Config)
	}
	wantLabels := map[string]string{
		"org.opencontainers.image.title":       "svcmirror",
		"org.opencontainers.image.description": description,
		"org.opencontainers.image.version":     testVersion,
		"org.opencontainers.image.revision":    testRevision,
		"org.opencontainers.image.source":      "https://github.com/svcmirror/svcmirror",
		"org.opencontainers.image.created":     "2026-11-23T21:42:34Z",
		"org.opencontainers.image.licenses":    "Apache-2.0",
	}
	if !maps.Equal(c.Config.Labels, wantLabels) {
		t.Errorf("labels = %v, want %v", c.Config.Labels, wantLabels)
	}
	ref := "svcmirror:" + testVersion
	if got := in.index.Manifests[0].Annotations; got[oci.AnnotationRefName] != ref || got[oci.AnnotationContainerdName] != ref {
		t.Errorf("index annotations = %v, want both names %q", got, ref)
	}
	if !slices.Equal(in.docker[0].RepoTags, []string{ref}) {
		t.Errorf("manifest.json RepoTags = %q, want [%q]", in.docker[0].RepoTags, ref)
	}
}

// TestLabelsLeaveOutWhatIsUnknown checks that no revision and no license mean no such
// labels, rather than empty or made-up ones.
func TestLabelsLeaveOutWhatIsUnknown(t *testing.T) {
	in := inspectArchive(t, makeImage(t, "-revision", ""))
	for _, key := range []string{labelRevision, labelLicenses} {
		if v, ok := in.config.Config.Labels[key]; ok {
			t.Errorf("label %s = %q, want none", key, v)
		}
	}
}

// TestImageIsReproducible checks that the same binary, version, revision and commit time
// give the same archive bytes, wherever it is written, and that revision and time count.
func TestImageIsReproducible(t *testing.T) {
	first := makeImage(t)
	if !bytes.Equal(first, makeImage(t)) {
		t.Fatal("two builds of the same binary and version gave different archives")
	}
	if bytes.Equal(first, makeImage(t, "-revision", strings.Repeat("f", 40))) {
		t.Error("another revision gave the same archive")
	}
	if bytes.Equal(first, makeImage(t, "-source-date-epoch", strconv.Itoa(testEpoch+1))) {
		t.Error("another commit time gave the same archive")
	}
}

// TestImageRefusesBinariesScratchCannotRun checks that the command fails, writing nothing,
// for a binary a scratch image could not start.
func TestImageRefusesBinariesScratchCannotRun(t *testing.T) {
	notGo := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(notGo, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		binary, wantErr string
	}{
		{standInDynamic, "dynamically linked"},
		{notGo, "not a Go binary"},
	}
	for _, tt := range tests {
		out := filepath.Join(t.TempDir(), "image.tar")
		var stderr bytes.Buffer
		code := runMain([]string{"-binary", tt.binary, "-o", out, "-version", testVersion}, io.Discard, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), tt.wantErr) {
			t.Errorf("%s: exit code %d, stderr %q; want 1 and %q", tt.binary, code, stderr.String(), tt.wantErr)
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: an archive was written (%v)", tt.binary, err)
		}
	}
}

// TestPlatformOf checks the platform derived from a binary's build settings.
func TestPlatformOf(t *testing.T) {
	tests := []struct {
		settings map[string]string
		want     oci.Platform
	}{
		{map[string]string{"GOOS": "linux", "GOARCH": "amd64", "GOAMD64": "v1"}, oci.Platform{OS: "linux", Architecture: "amd64"}},
		{map[string]string{"GOOS": "linux", "GOARCH": "arm64"}, oci.Platform{OS: "linux", Architecture: "arm64"}},
		{map[string]string{"GOOS": "linux", "GOARCH": "arm", "GOARM": "7"}, oci.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
		{map[string]string{"GOOS": "linux", "GOARCH": "arm", "GOARM": "6,softfloat"}, oci.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}},
	}
	for _, tt := range tests {
		got, err := platformOf(tt.settings)
		if err != nil || got != tt.want {
			t.Errorf("platformOf(%v) = %+v, %v; want %+v", tt.settings, got, err, tt.want)
		}
	}
	if _, err := platformOf(map[string]string{"GOOS": "linux"}); err == nil {
		t.Error("platformOf accepted settings without GOARCH")
	}
}

// TestMakeImageOutput checks the archive `make image` last wrote, when there is one: the same
// structure, user, entrypoint and labels, and a static binary for the platform it declares.
func TestMakeImageOutput(t *testing.T) {
	archive, err := os.ReadFile("../../bin/svcmirror-image.tar")
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("no bin/svcmirror-image.tar; make image writes it")
	}
	if err != nil {
		t.Fatal(err)
	}
	in := inspectArchive(t, archive)
	var names []string
	var bin []byte
	for _, e := range in.layer {
		names = append(names, e.name)
		if e.name == "svcmirror" {
			bin = []byte(e.data)
			if e.mode != 0o755 || e.uid != 0 || e.gid != 0 {
				t.Errorf("svcmirror has mode %o, owner %d:%d; want 0755 0:0", e.mode, e.uid, e.gid)
			}
		}
	}
	if want := []string{"etc/", "etc/group", "etc/passwd", "svcmirror"}; !slices.Equal(names, want) {
		t.Errorf("layer entries = %q, want %q", names, want)
	}
	info, err := inspectBinary(bin)
	if err != nil {
		t.Fatalf("the image's /svcmirror: %v", err)
	}
	if c := in.config; c.OS != info.platform.OS || c.Architecture != info.platform.Architecture {
		t.Errorf("config says %s/%s, the binary is %+v", c.OS, c.Architecture, info.platform)
	}
	c := in.config.Config
	if c.User != imageUser || !slices.Equal(c.Entrypoint, []string{"/svcmirror"}) {
		t.Errorf("user %q entrypoint %q", c.User, c.Entrypoint)
	}
	for _, key := range []string{labelTitle, labelVersion, labelSource, labelCreated} {
		if c.Labels[key] == "" {
			t.Errorf("no label %s", key)
		}
	}
	if ref := "svcmirror:" + c.Labels[labelVersion]; !slices.Equal(in.docker[0].RepoTags, []string{ref}) {
		t.Errorf("RepoTags = %q, want [%q]", in.docker[0].RepoTags, ref)
	}
}
