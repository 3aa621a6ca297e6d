// Package deploy holds the tests of kperf's deployment files: the
// Kubernetes kustomizations in k8s/, the Marathon app and DC/OS job
// definitions in marathon/, and the container image in image/. It is its
// own Go module so that the main module does not carry the Kubernetes
// types; it has no code beyond its tests.
package deploy
