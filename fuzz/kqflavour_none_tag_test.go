//go:build linux && !(kqmodel_freebsd || kqmodel_darwin || kqmodel_openbsd || kqmodel_netbsd)

package fuzz_test

// kqFlavour is empty without a kqmodel_* build tag: Linux has no kqueue backend then.
const kqFlavour = ""
