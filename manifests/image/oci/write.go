package oci

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
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
)

// File is one entry of an image's only layer.
type File struct {
	// Path is slash-separated and relative to the root, as layers spell it: "svcmirror",
	// "etc/passwd".
	Path string
	// Dir makes the entry a directory; Data must then be empty.
	Dir bool
	// Mode holds the permission bits only (0o755).
	Mode     int64
	UID, GID int
	Data     []byte
}

// Image is everything an archive holds: one image of one layer.
type Image struct {
	// Name and Tag name the image when it is loaded: Name:Tag in docker load's RepoTags and
	// in index.json's annotations (podman adds its "localhost/" prefix to a bare name).
	Name, Tag string
	// Created goes into the config, its history and every modification time in the layer and
	// the archive; giving the commit time (SOURCE_DATE_EPOCH) keeps the build reproducible.
	// It is cut to whole seconds, in UTC.
	Created  time.Time
	Platform Platform
	Config   ContainerConfig
	// CreatedBy says in the image's history what made the layer.
	CreatedBy string
	// Files are the layer's entries, in any order: they are written sorted by path.
	Files []File
}

// The rules of a Docker reference's name and tag, which podman, skopeo and docker all apply.
var (
	namePattern = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
	tagPattern  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
)

// Write writes img to w as an OCI image layout in a tar (what podman, skopeo and
// containerd call an oci-archive) with docker load's manifest.json beside it. The same img
// always gives the same bytes: entries are sorted, every mode, owner and time is fixed, and
// nothing depends on the clock, the host or the user running it.
func Write(w io.Writer, img Image) error {
	if !namePattern.MatchString(img.Name) {
		return fmt.Errorf("image name %q is not a valid repository name", img.Name)
	}
	if !tagPattern.MatchString(img.Tag) {
		return fmt.Errorf("image tag %q is not a valid tag (letters, digits, '_', '.', '-'; at most 128)", img.Tag)
	}
	if img.Platform.OS == "" || img.Platform.Architecture == "" {
		return errors.New("image platform needs an OS and an architecture")
	}
	created := img.Created.UTC().Truncate(time.Second)
	if created.Before(time.Unix(0, 0)) {
		return fmt.Errorf("creation time %s is before 1970", created)
	}
	createdText := created.Format(time.RFC3339)

	layerTar, err := layerTar(img.Files, created)
	if err != nil {
		return err
	}
	diffID := digestOf(layerTar)
	layer, err := gzipped(layerTar)
	if err != nil {
		return err
	}

	config, err := json.Marshal(ConfigFile{
		Created:      createdText,
		Architecture: img.Platform.Architecture,
		OS:           img.Platform.OS,
		Variant:      img.Platform.Variant,
		Config:       img.Config,
		RootFS:       RootFS{Type: "layers", DiffIDs: []string{diffID}},
		History:      []History{{Created: createdText, CreatedBy: img.CreatedBy}},
	})
	if err != nil {
		return err
	}
	configDesc := Descriptor{MediaType: MediaTypeConfig, Digest: digestOf(config), Size: int64(len(config))}
	layerDesc := Descriptor{MediaType: MediaTypeLayer, Digest: digestOf(layer), Size: int64(len(layer))}

	manifest, err := json.Marshal(Manifest{
		SchemaVersion: 2,
		MediaType:     MediaTypeManifest,
		Config:        configDesc,
		Layers:        []Descriptor{layerDesc},
	})
	if err != nil {
		return err
	}
	platform := img.Platform
	reference := img.Name + ":" + img.Tag
	index, err := json.Marshal(Index{
		SchemaVersion: 2,
		MediaType:     MediaTypeIndex,
		Manifests: []Descriptor{{
			MediaType: MediaTypeManifest,
			Digest:    digestOf(manifest),
			Size:      int64(len(manifest)),
			Annotations: map[string]string{
				AnnotationRefName:        reference,
				AnnotationContainerdName: reference,
			},
			Platform: &platform,
		}},
	})
	if err != nil {
		return err
	}
	dockerManifest, err := json.Marshal([]DockerManifest{{
		Config:   BlobPath(configDesc.Digest),
		RepoTags: []string{reference},
		Layers:   []string{BlobPath(layerDesc.Digest)},
	}})
	if err != nil {
		return err
	}
	layout, err := json.Marshal(map[string]string{"imageLayoutVersion": LayoutVersion})
	if err != nil {
		return err
	}

	members := []File{
		{Path: "blobs", Dir: true},
		{Path: "blobs/sha256", Dir: true},
		{Path: BlobPath(configDesc.Digest), Data: config},
		{Path: BlobPath(layerDesc.Digest), Data: layer},
		{Path: BlobPath(digestOf(manifest)), Data: manifest},
		{Path: "index.json", Data: index},
		{Path: "manifest.json", Data: dockerManifest},
		{Path: "oci-layout", Data: layout},
	}
	for i := range members {
		members[i].Mode = 0o644
		if members[i].Dir {
			members[i].Mode = 0o755
		}
	}
	return writeTar(w, members, created)
}

// BlobPath is where the blob of digest ("sha256:<hex>") lies in an image layout.
func BlobPath(digest string) string {
	return "blobs/sha256/" + strings.TrimPrefix(digest, "sha256:")
}

// digestOf is data's digest as descriptors spell it.
func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// layerTar is the uncompressed layer: files sorted by path, so the order the caller chose
// cannot change the bytes.
func layerTar(files []File, mtime time.Time) ([]byte, error) {
	files = slices.Clone(files)
	seen := map[string]bool{}
	for _, f := range files {
		if f.Path == "" || path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || strings.HasPrefix(f.Path, "../") || f.Path == ".." {
			return nil, fmt.Errorf("layer path %q must be clean and relative to the root", f.Path)
		}
		if seen[f.Path] {
			return nil, fmt.Errorf("layer path %q is given twice", f.Path)
		}
		seen[f.Path] = true
		if f.Dir && len(f.Data) > 0 {
			return nil, fmt.Errorf("layer directory %q has data", f.Path)
		}
		if f.Mode&^0o7777 != 0 {
			return nil, fmt.Errorf("layer path %q: mode %o holds more than permission bits", f.Path, f.Mode)
		}
	}
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	var buf bytes.Buffer
	if err := writeTar(&buf, files, mtime); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeTar writes files in the given order as a USTAR archive: no PAX records, so no
// access or change times, and no user or group names, only the numeric owners.
func writeTar(w io.Writer, files []File, mtime time.Time) error {
	tw := tar.NewWriter(w)
	for _, f := range files {
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     f.Path,
			Mode:     f.Mode,
			Uid:      f.UID,
			Gid:      f.GID,
			Size:     int64(len(f.Data)),
			ModTime:  mtime,
			Format:   tar.FormatUSTAR,
		}
		if f.Dir {
			hdr.Typeflag, hdr.Name = tar.TypeDir, f.Path+"/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("tar entry %q: %w", f.Path, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return fmt.Errorf("tar entry %q: %w", f.Path, err)
		}
	}
	return tw.Close()
}

// gzipped compresses data with a header that carries no name and no time, so the bytes
// depend on the data alone (and on compress/flate, whose output Go has kept stable). The
// default level: on the 30 MB daemon the best one saves 0.4% for almost three times the time.
func gzipped(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
