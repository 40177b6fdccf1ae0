package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Archive is what Read found in an archive, after checking every blob against its digest and
// size and every reference between index, manifest, config, layers and manifest.json.
type Archive struct {
	// Members are the archive's entry names, in archive order.
	Members []string
	Index   Index
	// Manifest is the image the index's only descriptor points at.
	Manifest Manifest
	Config   ConfigFile
	// DockerManifest is manifest.json, nil when the archive has none.
	DockerManifest []DockerManifest
	// Layers holds each layer's entries, bottom layer first, in the layer's order.
	Layers [][]LayerEntry
}

// LayerEntry is one entry of a layer: its tar header and, for a regular file, its contents.
type LayerEntry struct {
	Header *tar.Header
	Data   []byte
}

// Read reads an archive that holds one image, as Write writes it, and checks it the way a
// loader would: oci-layout's version, every blob's SHA-256 against its name, every descriptor's
// size and media type, each layer's uncompressed digest against the config's diff_ids, the
// manifest.json references, and that no blob is left unreferenced.
func Read(r io.Reader) (*Archive, error) {
	a := &Archive{}
	files := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the archive: %w", err)
		}
		if slices.Contains(a.Members, hdr.Name) {
			return nil, fmt.Errorf("archive entry %q appears twice", hdr.Name)
		}
		a.Members = append(a.Members, hdr.Name)
		switch hdr.Typeflag {
		case tar.TypeDir:
		case tar.TypeReg:
			data, err := io.ReadAll(tr)
			if err != nil {
				return nil, fmt.Errorf("reading archive entry %q: %w", hdr.Name, err)
			}
			files[hdr.Name] = data
		default:
			return nil, fmt.Errorf("archive entry %q is neither a file nor a directory (type %q)", hdr.Name, hdr.Typeflag)
		}
	}

	var layout struct {
		ImageLayoutVersion string `json:"imageLayoutVersion"`
	}
	if err := decodeMember(files, "oci-layout", &layout); err != nil {
		return nil, err
	}
	if layout.ImageLayoutVersion != LayoutVersion {
		return nil, fmt.Errorf("oci-layout: imageLayoutVersion %q, want %q", layout.ImageLayoutVersion, LayoutVersion)
	}

	unreferenced := map[string]bool{}
	for name, data := range files {
		hexDigest, ok := strings.CutPrefix(name, "blobs/sha256/")
		if !ok {
			continue
		}
		if got := digestOf(data); got != "sha256:"+hexDigest {
			return nil, fmt.Errorf("blob %s holds data of digest %s", name, got)
		}
		unreferenced[name] = true
	}
	// blob returns the blob desc points at, after checking its media type and size.
	blob := func(what string, desc Descriptor, mediaType string) ([]byte, error) {
		if desc.MediaType != mediaType {
			return nil, fmt.Errorf("%s: media type %q, want %q", what, desc.MediaType, mediaType)
		}
		hexDigest, ok := strings.CutPrefix(desc.Digest, "sha256:")
		if _, err := hex.DecodeString(hexDigest); !ok || err != nil || len(hexDigest) != 64 {
			return nil, fmt.Errorf("%s: digest %q is not a SHA-256 digest", what, desc.Digest)
		}
		data, ok := files[BlobPath(desc.Digest)]
		if !ok {
			return nil, fmt.Errorf("%s: blob %s is missing", what, desc.Digest)
		}
		if int64(len(data)) != desc.Size {
			return nil, fmt.Errorf("%s: blob %s has %d bytes, its descriptor says %d", what, desc.Digest, len(data), desc.Size)
		}
		delete(unreferenced, BlobPath(desc.Digest))
		return data, nil
	}

	if err := decodeMember(files, "index.json", &a.Index); err != nil {
		return nil, err
	}
	if a.Index.SchemaVersion != 2 || a.Index.MediaType != MediaTypeIndex {
		return nil, fmt.Errorf("index.json: schemaVersion %d, mediaType %q; want 2, %q", a.Index.SchemaVersion, a.Index.MediaType, MediaTypeIndex)
	}
	if len(a.Index.Manifests) != 1 {
		return nil, fmt.Errorf("index.json lists %d manifests, want one", len(a.Index.Manifests))
	}
	manifestDesc := a.Index.Manifests[0]
	data, err := blob("index.json's manifest", manifestDesc, MediaTypeManifest)
	if err != nil {
		return nil, err
	}
	if err := decodeJSON("manifest", data, &a.Manifest); err != nil {
		return nil, err
	}
	if a.Manifest.SchemaVersion != 2 || a.Manifest.MediaType != MediaTypeManifest {
		return nil, fmt.Errorf("manifest: schemaVersion %d, mediaType %q; want 2, %q", a.Manifest.SchemaVersion, a.Manifest.MediaType, MediaTypeManifest)
	}
	if data, err = blob("manifest's config", a.Manifest.Config, MediaTypeConfig); err != nil {
		return nil, err
	}
	if err := decodeJSON("config", data, &a.Config); err != nil {
		return nil, err
	}
	if p := manifestDesc.Platform; p != nil && (p.OS != a.Config.OS || p.Architecture != a.Config.Architecture || p.Variant != a.Config.Variant) {
		return nil, fmt.Errorf("index.json's platform %+v differs from the config's %s/%s %q", *p, a.Config.OS, a.Config.Architecture, a.Config.Variant)
	}
	if a.Config.RootFS.Type != "layers" || len(a.Config.RootFS.DiffIDs) != len(a.Manifest.Layers) {
		return nil, fmt.Errorf("config rootfs: type %q with %d diff_ids for %d layers", a.Config.RootFS.Type, len(a.Config.RootFS.DiffIDs), len(a.Manifest.Layers))
	}
	for i, desc := range a.Manifest.Layers {
		what := fmt.Sprintf("layer %d", i)
		if data, err = blob(what, desc, MediaTypeLayer); err != nil {
			return nil, err
		}
		uncompressed, err := gunzip(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if got, want := digestOf(uncompressed), a.Config.RootFS.DiffIDs[i]; got != want {
			return nil, fmt.Errorf("%s: uncompressed digest %s, the config's diff_id is %s", what, got, want)
		}
		entries, err := layerEntries(uncompressed)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		a.Layers = append(a.Layers, entries)
	}
	if len(unreferenced) > 0 {
		return nil, fmt.Errorf("blobs nothing refers to: %v", sortedKeys(unreferenced))
	}

	if _, ok := files["manifest.json"]; ok {
		if err := decodeMember(files, "manifest.json", &a.DockerManifest); err != nil {
			return nil, err
		}
		if len(a.DockerManifest) != 1 {
			return nil, fmt.Errorf("manifest.json lists %d images, want one", len(a.DockerManifest))
		}
		var layers []string
		for _, l := range a.Manifest.Layers {
			layers = append(layers, BlobPath(l.Digest))
		}
		if dm := a.DockerManifest[0]; dm.Config != BlobPath(a.Manifest.Config.Digest) || !slices.Equal(dm.Layers, layers) {
			return nil, fmt.Errorf("manifest.json points at config %s and layers %v, the OCI manifest at %s and %v",
				dm.Config, dm.Layers, BlobPath(a.Manifest.Config.Digest), layers)
		}
	}
	return a, nil
}

// layerEntries lists a layer's tar entries with the contents of its regular files.
func layerEntries(layer []byte) ([]LayerEntry, error) {
	var entries []LayerEntry
	tr := tar.NewReader(bytes.NewReader(layer))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries, nil
		}
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
		entries = append(entries, LayerEntry{Header: hdr, Data: data})
	}
}

func gunzip(data []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

func decodeMember(files map[string][]byte, name string, v any) error {
	data, ok := files[name]
	if !ok {
		return fmt.Errorf("the archive has no %s", name)
	}
	return decodeJSON(name, data, v)
}

// decodeJSON decodes strictly: an unknown field means the file is not what this package
// writes, or the reader is out of date with it.
func decodeJSON(what string, data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
