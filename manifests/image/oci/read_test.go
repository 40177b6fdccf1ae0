package oci

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

// member is one entry of an archive, for tests that take one apart and put it back.
type member struct {
	hdr  *tar.Header
	data []byte
}

func readOrdered(t *testing.T, archive []byte) []member {
	t.Helper()
	var ms []member
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return ms
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, member{hdr, data})
	}
}

func readMembers(t *testing.T, archive []byte) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	for _, e := range readOrdered(t, archive) {
		m[e.hdr.Name] = e.data
	}
	return m
}

func writeOrdered(t *testing.T, ms []member) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range ms {
		h := *m.hdr
		h.Size = int64(len(m.data))
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(m.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// layout is an archive taken apart into its documents, so that a test can break one thing
// and relink the rest (new digests, sizes and references) so that only that defect remains.
type layout struct {
	members  []member
	index    Index
	manifest Manifest
	config   ConfigFile
	docker   []DockerManifest
}

func parse(t *testing.T, archive []byte) *layout {
	t.Helper()
	l := &layout{members: readOrdered(t, archive)}
	files := readMembers(t, archive)
	mustDecode := func(data []byte, v any) {
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatal(err)
		}
	}
	mustDecode(files["index.json"], &l.index)
	mustDecode(files[BlobPath(l.index.Manifests[0].Digest)], &l.manifest)
	mustDecode(files[BlobPath(l.manifest.Config.Digest)], &l.config)
	mustDecode(files["manifest.json"], &l.docker)
	return l
}

// set replaces (or adds) the member called name.
func (l *layout) set(name string, data []byte) {
	for i, m := range l.members {
		if m.hdr.Name == name {
			l.members[i].data = data
			return
		}
	}
	l.members = append(l.members, member{&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644}, data})
}

func (l *layout) find(name string) []byte {
	for _, m := range l.members {
		if m.hdr.Name == name {
			return m.data
		}
	}
	return nil
}

func (l *layout) remove(name string) {
	for i, m := range l.members {
		if m.hdr.Name == name {
			l.members = append(l.members[:i], l.members[i+1:]...)
			return
		}
	}
}

// relink writes config, manifest, index.json and manifest.json back from the structs,
// replacing the old config and manifest blobs with new ones under their new digests.
func (l *layout) relink(t *testing.T) []byte {
	t.Helper()
	mustEncode := func(v any) []byte {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	l.remove(BlobPath(l.manifest.Config.Digest))
	l.remove(BlobPath(l.index.Manifests[0].Digest))
	config := mustEncode(l.config)
	l.manifest.Config.Digest, l.manifest.Config.Size = digestOf(config), int64(len(config))
	l.set(BlobPath(l.manifest.Config.Digest), config)
	l.docker[0].Config = BlobPath(l.manifest.Config.Digest)
	manifest := mustEncode(l.manifest)
	l.index.Manifests[0].Digest, l.index.Manifests[0].Size = digestOf(manifest), int64(len(manifest))
	l.set(BlobPath(l.index.Manifests[0].Digest), manifest)
	l.set("index.json", mustEncode(l.index))
	l.set("manifest.json", mustEncode(l.docker))
	return writeOrdered(t, l.members)
}

// TestReadChecksEveryReference checks that Read refuses an archive with any one defect that
// would make a loader refuse it or load something else than was meant, and that relinking
// alone (the helper the cases use) leaves a valid archive.
func TestReadChecksEveryReference(t *testing.T) {
	good := write(t, testImage())
	layerPath := func(l *layout) string { return BlobPath(l.manifest.Layers[0].Digest) }
	tests := []struct {
		name    string
		breakIt func(l *layout)
		// breakAfter, when set, breaks what relinking would have put right.
		breakAfter func(l *layout)
		wantErr    string // "" for an archive that must read
	}{
		{name: "nothing broken", breakIt: func(l *layout) {}},
		{name: "a blob whose contents changed", breakIt: func(l *layout) {
			l.set(layerPath(l), append(bytes.Clone(l.find(layerPath(l))), 0))
		}, wantErr: "holds data of digest"},
		{name: "a descriptor with the wrong size", breakIt: func(l *layout) { l.manifest.Layers[0].Size++ }, wantErr: "its descriptor says"},
		{name: "a missing layer blob", breakIt: func(l *layout) { l.remove(layerPath(l)) }, wantErr: "is missing"},
		{name: "an extra blob", breakIt: func(l *layout) {
			l.set(BlobPath(digestOf([]byte("stray"))), []byte("stray"))
		}, wantErr: "blobs nothing refers to"},
		{name: "a wrong layer media type", breakIt: func(l *layout) {
			l.manifest.Layers[0].MediaType = "application/vnd.docker.image.rootfs.diff.tar.gzip"
		}, wantErr: "layer 0: media type"},
		{name: "a wrong config media type", breakIt: func(l *layout) { l.manifest.Config.MediaType = "application/json" }, wantErr: "config: media type"},
		{name: "a wrong index media type", breakIt: func(l *layout) { l.index.MediaType = MediaTypeManifest }, wantErr: "index.json: schemaVersion"},
		{name: "a diff_id that is not the layer's", breakIt: func(l *layout) {
			l.config.RootFS.DiffIDs[0] = digestOf([]byte("another layer"))
		}, wantErr: "diff_id"},
		{name: "an index platform unlike the config's", breakIt: func(l *layout) {
			l.index.Manifests[0].Platform = &Platform{OS: "linux", Architecture: "s390x"}
		}, wantErr: "platform"},
		{name: "manifest.json pointing at the wrong config", breakIt: func(l *layout) {}, breakAfter: func(l *layout) {
			l.docker[0].Config = layerPath(l)
			data, err := json.Marshal(l.docker)
			if err != nil {
				t.Fatal(err)
			}
			l.set("manifest.json", data)
		}, wantErr: "manifest.json points at"},
		{name: "no oci-layout", breakIt: func(l *layout) { l.remove("oci-layout") }, wantErr: "no oci-layout"},
		{name: "an unknown layout version", breakIt: func(l *layout) {
			l.set("oci-layout", []byte(`{"imageLayoutVersion":"2.0.0"}`))
		}, wantErr: "imageLayoutVersion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := parse(t, good)
			tt.breakIt(l)
			archive := l.relink(t)
			if tt.breakAfter != nil {
				tt.breakAfter(l)
				archive = writeOrdered(t, l.members)
			}
			_, err := Read(bytes.NewReader(archive))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Read: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("Read accepted the archive, want an error containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("Read: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
