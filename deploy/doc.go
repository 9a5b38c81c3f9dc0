// Package deploy holds devFlow's container image recipe (Dockerfile) and Kubernetes
// manifests (k8s/). The Go package exists so that CI parses and checks them
// (deploy_test.go): probes, variables, replicas and the migration Job.
package deploy

import "embed"

// Files are the Dockerfile and every manifest under k8s/.
//
//go:embed Dockerfile k8s
var Files embed.FS
