package main

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/svcmirror/svcmirror/manifests/image/oci"
)

// What the image is; the Containerfile at the repository root must say the same, and
// containerfile_test.go checks that it does.
const (
	// binaryPath is the binary's place in the layer, so the entrypoint is "/" + binaryPath.
	binaryPath = "svcmirror"
	// imageUser is distroless's "nonroot" user and group, numeric so that the kubelet can
	// enforce runAsNonRoot without reading /etc/passwd (manifests/deployment.yaml sets the same).
	imageUser = "65532:65532"
	title     = "svcmirror"
	// description is the image's one-line summary (label org.opencontainers.image.description).
	description = "Service mirror for multi-cluster Kubernetes, a drop-in for Linkerd's per-Link service-mirror controller"
	// defaultSource is the repository, as the module path names it.
	defaultSource = "https://github.com/svcmirror/svcmirror"
)

// The OCI annotation keys the image's labels use (image-spec annotations.md).
const (
	labelTitle       = "org.opencontainers.image.title"
	labelDescription = "org.opencontainers.image.description"
	labelVersion     = "org.opencontainers.image.version"
	labelRevision    = "org.opencontainers.image.revision"
	labelSource      = "org.opencontainers.image.source"
	labelCreated     = "org.opencontainers.image.created"
	labelLicenses    = "org.opencontainers.image.licenses"
)

// The user database of the image. A scratch image needs none to run as 65532, but with one
// the numeric user has a name wherever something looks it up: engines set HOME from it,
// `ps` and `id` in a debug container show "nonroot", and Go's os/user works. The Containerfile
// copies the same files.
var (
	//go:embed rootfs/etc/passwd
	passwd []byte
	//go:embed rootfs/etc/group
	group []byte
)

// options are the command's flags.
type options struct {
	binary, output                  string
	name, version, revision, source string
	license                         string
	sourceDateEpoch                 int64
}

// written describes the archive writeImage wrote.
type written struct {
	reference, manifestDigest string
	size                      int64
}

// writeImage builds the image of o.binary and writes it to o.output, through a temporary
// file that is renamed only once the archive has been read back and checked, so a failed
// build never leaves a half-written or wrong archive under the final name.
func writeImage(o options) (written, error) {
	bin, err := os.ReadFile(o.binary)
	if err != nil {
		return written{}, err
	}
	img, err := svcmirrorImage(o, bin)
	if err != nil {
		return written{}, fmt.Errorf("%s: %w", o.binary, err)
	}
	var buf bytes.Buffer
	if err := oci.Write(&buf, img); err != nil {
		return written{}, err
	}
	archive, err := oci.Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		return written{}, fmt.Errorf("the archive just written does not read back: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(o.output), 0o755); err != nil {
		return written{}, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(o.output), filepath.Base(o.output)+".*")
	if err != nil {
		return written{}, err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	_, err = tmp.Write(buf.Bytes())
	err = errors.Join(err, tmp.Chmod(0o644), tmp.Close())
	if err != nil {
		return written{}, err
	}
	if err := os.Rename(tmp.Name(), o.output); err != nil {
		return written{}, err
	}
	return written{
		reference:      img.Name + ":" + img.Tag,
		manifestDigest: archive.Index.Manifests[0].Digest,
		size:           int64(buf.Len()),
	}, nil
}

// svcmirrorImage is the image of bin: the binary, the user database and the config, for
// the platform the binary was built for.
func svcmirrorImage(o options, bin []byte) (oci.Image, error) {
	if o.version == "" {
		return oci.Image{}, errors.New("no -version given")
	}
	info, err := inspectBinary(bin)
	if err != nil {
		return oci.Image{}, err
	}
	created := time.Unix(o.sourceDateEpoch, 0).UTC()
	return oci.Image{
		Name:     o.name,
		Tag:      o.version,
		Created:  created,
		Platform: info.platform,
		Config: oci.ContainerConfig{
			User:       imageUser,
			Entrypoint: []string{"/" + binaryPath},
			WorkingDir: "/",
			Labels:     labels(o, created),
		},
		CreatedBy: "make image (manifests/image)",
		Files: []oci.File{
			// Owned by root, so the process (65532) cannot replace its own binary even where
			// the root filesystem is writable; it only needs to read and execute it.
			{Path: binaryPath, Mode: 0o755, Data: bin},
			{Path: "etc", Dir: true, Mode: 0o755},
			{Path: "etc/passwd", Mode: 0o644, Data: passwd},
			{Path: "etc/group", Mode: 0o644, Data: group},
		},
	}, nil
}

// labels are the image's OCI labels; revision and license are left out when not known
// rather than given a placeholder.
func labels(o options, created time.Time) map[string]string {
	l := map[string]string{
		labelTitle:       title,
		labelDescription: description,
		labelVersion:     o.version,
		labelSource:      o.source,
		labelCreated:     created.Format(time.RFC3339),
	}
	if o.revision != "" {
		l[labelRevision] = o.revision
	}
	if o.license != "" {
		l[labelLicenses] = o.license
	}
	return l
}
