// Package oci writes and reads single-image OCI image archives with the standard library
// only: a tar of an OCI image layout (oci-layout, index.json, blobs/sha256/...) that
// podman, skopeo and containerd load, with a manifest.json beside it in the form `docker
// save` writes, so that docker load reads the same file. Writing is deterministic: the same
// Image gives the same bytes, whenever and wherever it is written.
package oci

// Media types of the OCI image specification (image-spec v1.1) that this package writes.
const (
	MediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	MediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	MediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"

	// LayoutVersion is the only image layout version there is; it goes into oci-layout.
	LayoutVersion = "1.0.0"

	// AnnotationRefName names an image in index.json; skopeo's oci-archive:FILE:REF and
	// podman load read it.
	AnnotationRefName = "org.opencontainers.image.ref.name"
	// AnnotationContainerdName is the full image name containerd (and so Docker's containerd
	// image store) gives an image it imports.
	AnnotationContainerdName = "io.containerd.image.name"
)

// Descriptor points at a blob by digest and size.
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *Platform         `json:"platform,omitempty"`
}

// Platform is the operating system and CPU an image runs on, in GOOS/GOARCH terms as the
// specification asks.
type Platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
}

// Index is index.json, the entry point of an image layout.
type Index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []Descriptor `json:"manifests"`
}

// Manifest lists an image's config and layers.
type Manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        Descriptor   `json:"config"`
	Layers        []Descriptor `json:"layers"`
}

// ConfigFile is the image configuration blob.
type ConfigFile struct {
	Created      string          `json:"created,omitempty"`
	Architecture string          `json:"architecture"`
	OS           string          `json:"os"`
	Variant      string          `json:"variant,omitempty"`
	Config       ContainerConfig `json:"config"`
	RootFS       RootFS          `json:"rootfs"`
	History      []History       `json:"history,omitempty"`
}

// ContainerConfig is what a container started from the image runs with.
type ContainerConfig struct {
	User       string            `json:"User,omitempty"`
	Env        []string          `json:"Env,omitempty"`
	Entrypoint []string          `json:"Entrypoint,omitempty"`
	Cmd        []string          `json:"Cmd,omitempty"`
	WorkingDir string            `json:"WorkingDir,omitempty"`
	Labels     map[string]string `json:"Labels,omitempty"`
}

// RootFS lists the digests of the uncompressed layers, bottom first.
type RootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

// History describes how a layer was made (docker history and podman history show it).
type History struct {
	Created   string `json:"created,omitempty"`
	CreatedBy string `json:"created_by,omitempty"`
	Comment   string `json:"comment,omitempty"`
}

// DockerManifest is one entry of the manifest.json that docker load reads (the format of
// `docker save`): paths inside the archive, here into the OCI layout's blobs.
type DockerManifest struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}
