// Package hashivault stands in for sigstore's hashivault KMS provider, which Tekton's trusted-resources verifier
// registers by a blank import and the harness never uses (see ../../go.mod).
package hashivault
