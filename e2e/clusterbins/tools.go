//go:build tools

// Package clusterbins only names the commands the test bed builds, so that
// `go mod tidy` keeps them in go.mod and go.sum.
package clusterbins

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
