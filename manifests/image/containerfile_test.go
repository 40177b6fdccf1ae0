package main

import (
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// instruction is one Containerfile instruction, its continuation lines joined.
type instruction struct {
	keyword, args string
}

// stage is one FROM and the instructions after it.
type stage struct {
	from         string
	instructions []instruction
}

func (s stage) all(keyword string) []string {
	var args []string
	for _, in := range s.instructions {
		if in.keyword == keyword {
			args = append(args, in.args)
		}
	}
	return args
}

// parseContainerfile splits a Containerfile into stages. It knows only what the project's
// Containerfile uses: comments, blank lines, backslash continuations.
func parseContainerfile(t *testing.T, text string) []stage {
	t.Helper()
	var stages []stage
	var line string
	for _, raw := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(raw)
		if line == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cont, ok := strings.CutSuffix(trimmed, `\`); ok {
			line += cont + " "
			continue
		}
		line += trimmed
		keyword, args, _ := strings.Cut(line, " ")
		line = ""
		in := instruction{strings.ToUpper(keyword), strings.TrimSpace(args)}
		if in.keyword == "FROM" {
			stages = append(stages, stage{from: in.args})
			continue
		}
		if len(stages) == 0 {
			if in.keyword != "ARG" {
				t.Fatalf("instruction %s before the first FROM", in.keyword)
			}
			continue
		}
		stages[len(stages)-1].instructions = append(stages[len(stages)-1].instructions, in)
	}
	return stages
}

// TestContainerfileAgreesWithMakeImage checks that the Containerfile builds the image make
// image builds: a static, trimmed build of the current Go version, then scratch with the
// same files, user, entrypoint and labels, and every package of the binary in the context.
// No container engine runs here, so the file itself is never built by the tests.
func TestContainerfileAgreesWithMakeImage(t *testing.T) {
	text, err := os.ReadFile("../../Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	stages := parseContainerfile(t, string(text))
	if len(stages) != 2 {
		t.Fatalf("%d stages, want a builder and the image", len(stages))
	}
	build, final := stages[0], stages[1]

	goMod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	if goVersion == nil {
		t.Fatal("go.mod has no go directive")
	}
	if want := "docker.io/library/golang:" + string(goVersion[1]) + " AS build"; build.from != want {
		t.Errorf("builder stage FROM %q, want %q (go.mod's Go version)", build.from, want)
	}
	runs := strings.Join(build.all("RUN"), "\n")
	for _, want := range []string{"CGO_ENABLED=0 go build -trimpath", `-X main.version=${VERSION}`, "-o /out/svcmirror ."} {
		if !strings.Contains(runs, want) {
			t.Errorf("the builder's RUN lines lack %q:\n%s", want, runs)
		}
	}

	if final.from != "scratch" {
		t.Errorf("image stage FROM %q, want scratch", final.from)
	}
	if got := final.all("USER"); !slices.Equal(got, []string{imageUser}) {
		t.Errorf("USER = %q, want [%q]", got, imageUser)
	}
	entrypoints := final.all("ENTRYPOINT")
	var entrypoint []string
	if len(entrypoints) != 1 || json.Unmarshal([]byte(entrypoints[0]), &entrypoint) != nil {
		t.Fatalf("ENTRYPOINT = %q, want one in exec (JSON) form", entrypoints)
	}
	if want := []string{"/" + binaryPath}; !slices.Equal(entrypoint, want) {
		t.Errorf("ENTRYPOINT = %q, want %q", entrypoint, want)
	}
	if cmd := final.all("CMD"); len(cmd) > 0 {
		t.Errorf("CMD %q: make image's image has none", cmd)
	}
	copies := final.all("COPY")
	for _, want := range []string{"manifests/image/rootfs/ /", "--from=build /out/svcmirror /" + binaryPath} {
		if !slices.Contains(copies, want) {
			t.Errorf("the image stage lacks COPY %s; it has %q", want, copies)
		}
	}
	if len(copies) != 2 {
		t.Errorf("the image stage copies %q, want only the user database and the binary", copies)
	}

	// The labels make image writes, as the Containerfile spells them: build arguments where
	// make image takes a flag. make image adds licenses only when given one, and the
	// repository states none.
	got := map[string]string{}
	for _, args := range final.all("LABEL") {
		for _, m := range regexp.MustCompile(`(\S+)="((?:[^"\\]|\\.)*)"`).FindAllStringSubmatch(args, -1) {
			got[m[1]] = m[2]
		}
	}
	want := labels(options{version: "${VERSION}", revision: "${REVISION}", source: defaultSource}, time.Unix(testEpoch, 0))
	want[labelCreated] = "${CREATED}"
	if !maps.Equal(got, want) {
		t.Errorf("Containerfile labels =\n%v\nwant\n%v", got, want)
	}

	// Every directory of the repository that a package of the binary lives in must be copied
	// into the builder; a package added under a new top-level directory would otherwise
	// build here and fail there.
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", ".")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	buildCopies := build.all("COPY")
	for _, dir := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, dir)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // a module dependency, downloaded by go mod download
		}
		want := "*.go ./"
		if rel != "." {
			top := strings.Split(filepath.ToSlash(rel), "/")[0]
			want = top + "/ " + top + "/"
		}
		if !slices.Contains(buildCopies, want) {
			t.Errorf("the binary's package in %s is not copied into the builder (want COPY %s)", rel, want)
		}
	}
}
