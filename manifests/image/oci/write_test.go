package oci

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

var testCreated = time.Date(2026, 11, 23, 21, 42, 34, 0, time.UTC)

// testImage is a small image of three entries, given out of order on purpose.
func testImage() Image {
	return Image{
		Name:     "example/app",
		Tag:      "v1.2.3",
		Created:  testCreated,
		Platform: Platform{OS: "linux", Architecture: "arm64"},
		Config: ContainerConfig{
			User:       "65532:65532",
			Entrypoint: []string{"/app"},
			Labels:     map[string]string{"org.opencontainers.image.title": "app"},
		},
		CreatedBy: "a test",
		Files: []File{
			{Path: "etc/passwd", Mode: 0o644, Data: []byte("nonroot:x:65532:65532::/:/sbin/nologin\n")},
			{Path: "app", Mode: 0o755, UID: 65532, GID: 65532, Data: []byte("not really a program")},
			{Path: "etc", Dir: true, Mode: 0o755},
		},
	}
}

func write(t *testing.T, img Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestWriteThenRead checks that what Write writes reads back, with every name, reference,
// platform and layer entry as given, and every time the creation time.
func TestWriteThenRead(t *testing.T) {
	img := testImage()
	a, err := Read(bytes.NewReader(write(t, img)))
	if err != nil {
		t.Fatal(err)
	}
	wantMembers := []string{"blobs/", "blobs/sha256/", "index.json", "manifest.json", "oci-layout"}
	var members []string
	for _, m := range a.Members {
		if !strings.HasPrefix(m, "blobs/sha256/") || m == "blobs/sha256/" {
			members = append(members, m)
		}
	}
	if !slices.Equal(members, wantMembers) || len(a.Members) != len(wantMembers)+3 {
		t.Errorf("archive members = %q, want %q and three blobs", a.Members, wantMembers)
	}
	desc := a.Index.Manifests[0]
	if got := desc.Annotations[AnnotationRefName]; got != "example/app:v1.2.3" {
		t.Errorf("ref.name = %q", got)
	}
	if got := desc.Annotations[AnnotationContainerdName]; got != "example/app:v1.2.3" {
		t.Errorf("containerd name = %q", got)
	}
	if desc.Platform == nil || *desc.Platform != img.Platform {
		t.Errorf("index platform = %+v, want %+v", desc.Platform, img.Platform)
	}
	if got := a.DockerManifest[0].RepoTags; !slices.Equal(got, []string{"example/app:v1.2.3"}) {
		t.Errorf("RepoTags = %q", got)
	}
	c := a.Config
	if c.OS != "linux" || c.Architecture != "arm64" || c.Created != "2026-11-23T21:42:34Z" {
		t.Errorf("config os/arch/created = %s/%s/%s", c.OS, c.Architecture, c.Created)
	}
	if c.Config.User != "65532:65532" || !slices.Equal(c.Config.Entrypoint, []string{"/app"}) || c.Config.Labels["org.opencontainers.image.title"] != "app" {
		t.Errorf("container config = %+v", c.Config)
	}
	if len(c.History) != 1 || c.History[0].CreatedBy != "a test" || c.History[0].Created != c.Created {
		t.Errorf("history = %+v", c.History)
	}

	type entry struct {
		name     string
		typeflag byte
		mode     int64
		uid, gid int
		data     string
	}
	want := []entry{
		{"app", tar.TypeReg, 0o755, 65532, 65532, "not really a program"},
		{"etc/", tar.TypeDir, 0o755, 0, 0, ""},
		{"etc/passwd", tar.TypeReg, 0o644, 0, 0, "nonroot:x:65532:65532::/:/sbin/nologin\n"},
	}
	if len(a.Layers) != 1 {
		t.Fatalf("%d layers, want 1", len(a.Layers))
	}
	var got []entry
	for _, e := range a.Layers[0] {
		h := e.Header
		got = append(got, entry{h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, string(e.Data)})
		if !h.ModTime.Equal(testCreated) || h.Uname != "" || h.Gname != "" || h.Format != tar.FormatUSTAR {
			t.Errorf("%s: mtime %s, owner names %q/%q, format %v; want %s, none, USTAR", h.Name, h.ModTime, h.Uname, h.Gname, h.Format, testCreated)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("layer entries =\n%+v\nwant\n%+v", got, want)
	}
}

// TestWriteIsReproducible checks that the bytes depend on the image alone (not on the order
// of its files), and that every input does change them. (Write never reads the clock.)
func TestWriteIsReproducible(t *testing.T) {
	first := write(t, testImage())
	reordered := testImage()
	slices.Reverse(reordered.Files)
	if !bytes.Equal(first, write(t, reordered)) {
		t.Fatal("writing the same image twice gave different bytes")
	}
	changes := map[string]func(*Image){
		"tag":      func(i *Image) { i.Tag = "v1.2.4" },
		"created":  func(i *Image) { i.Created = i.Created.Add(time.Second) },
		"label":    func(i *Image) { i.Config.Labels = map[string]string{"org.opencontainers.image.title": "other"} },
		"file":     func(i *Image) { i.Files[1].Data = []byte("another program") },
		"mode":     func(i *Image) { i.Files[1].Mode = 0o555 },
		"owner":    func(i *Image) { i.Files[1].UID = 0 },
		"platform": func(i *Image) { i.Platform.Architecture = "amd64" },
	}
	for name, change := range changes {
		img := testImage()
		change(&img)
		if bytes.Equal(first, write(t, img)) {
			t.Errorf("changing the %s did not change the archive", name)
		}
	}
}

// TestWriteRefusesBadInput checks the inputs that would make an archive no loader accepts.
func TestWriteRefusesBadInput(t *testing.T) {
	tests := map[string]func(*Image){
		"an upper-case name":       func(i *Image) { i.Name = "App" },
		"a tag with a slash":       func(i *Image) { i.Tag = "v1/2" },
		"no architecture":          func(i *Image) { i.Platform.Architecture = "" },
		"an absolute path":         func(i *Image) { i.Files[0].Path = "/etc/passwd" },
		"a path out of the root":   func(i *Image) { i.Files[0].Path = "../passwd" },
		"a path given twice":       func(i *Image) { i.Files[0].Path = "app" },
		"a directory with data":    func(i *Image) { i.Files[2].Data = []byte("x") },
		"file-type bits in a mode": func(i *Image) { i.Files[1].Mode = 0o100755 },
	}
	for name, change := range tests {
		img := testImage()
		change(&img)
		if err := Write(&bytes.Buffer{}, img); err == nil {
			t.Errorf("Write accepted %s", name)
		}
	}
}

// The JSON this package writes must carry exactly the field names of the specifications;
// a renamed struct tag would still read back through Read.
func TestWrittenJSONUsesTheSpecificationsNames(t *testing.T) {
	a, err := Read(bytes.NewReader(write(t, testImage())))
	if err != nil {
		t.Fatal(err)
	}
	members := readMembers(t, write(t, testImage()))
	keys := func(data []byte) []string {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		var k []string
		for key := range m {
			k = append(k, key)
		}
		slices.Sort(k)
		return k
	}
	checks := []struct {
		what string
		data []byte
		want []string
	}{
		{"index.json", members["index.json"], []string{"manifests", "mediaType", "schemaVersion"}},
		{"manifest", members[BlobPath(a.Index.Manifests[0].Digest)], []string{"config", "layers", "mediaType", "schemaVersion"}},
		{"config", members[BlobPath(a.Manifest.Config.Digest)], []string{"architecture", "config", "created", "history", "os", "rootfs"}},
		{"oci-layout", members["oci-layout"], []string{"imageLayoutVersion"}},
	}
	for _, c := range checks {
		if got := keys(c.data); !slices.Equal(got, c.want) {
			t.Errorf("%s keys = %q, want %q", c.what, got, c.want)
		}
	}
	var dm []map[string]json.RawMessage
	if err := json.Unmarshal(members["manifest.json"], &dm); err != nil || len(dm) != 1 {
		t.Fatalf("manifest.json: %v, %d entries", err, len(dm))
	}
	for _, k := range []string{"Config", "RepoTags", "Layers"} {
		if _, ok := dm[0][k]; !ok {
			t.Errorf("manifest.json lacks %s", k)
		}
	}
}
