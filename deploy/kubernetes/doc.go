// Package kubernetes holds Stacksearch's Kubernetes manifests (a kustomize
// base and overlays) and, in its tests, the checks that keep them deployable:
// every rendered object decodes strictly into the k8s.io/api types, and the
// flags, ports, probes, Secret keys and NATS routes agree with searchd,
// searchctl and one another. It has no Go code of its own to import.
package kubernetes
