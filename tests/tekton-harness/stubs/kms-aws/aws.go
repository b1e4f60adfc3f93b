// Package aws stands in for sigstore's aws KMS provider, which Tekton's trusted-resources verifier
// registers by a blank import and the harness never uses (see ../../go.mod).
package aws
