// Package azure stands in for sigstore's azure KMS provider, which Tekton's trusted-resources verifier
// registers by a blank import and the harness never uses (see ../../go.mod).
package azure
