// Test support, published so integrators can test Kubernetes-backed code the way Cairn tests its
// own: a Kubernetes API endpoint on loopback (pods, secrets, network policies in one namespace)
// that validates what it is sent against the Kubernetes schemas and runs each pod for real.
export {};
