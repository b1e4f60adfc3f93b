// Package k8schain stands in for go-containerregistry's k8schain: the keychain of the pod's pull
// Secrets only, without the cloud registries' credential helpers (Google, Amazon ECR, Azure ACR),
// which Tekton's entrypoint image lookup adds and the harness never uses (see ../../go.mod).
package k8schain

import (
	"context"

	"github.com/google/go-containerregistry/pkg/authn"
	kauth "github.com/google/go-containerregistry/pkg/authn/kubernetes"
	"k8s.io/client-go/kubernetes"
)

// Options are those of the real package.
type Options = kauth.Options

// New gives the Kubernetes keychain for opt.
func New(ctx context.Context, client kubernetes.Interface, opt Options) (authn.Keychain, error) {
	return kauth.New(ctx, client, opt)
}
