# rbd-luks-agent. `make` builds build/rbd-luks-agent; `make check` installs
# what is missing, builds, and runs every test; `make demo` shows the main job
# on a private one-node Ceph cluster; `make bench` runs the benchmarks. See README.md.

VERSION := 0.1.0
BUILD   ?= build

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral
HARDEN  := -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE
BASE_CFLAGS := -std=gnu11 -D_GNU_SOURCE -DAGENT_VERSION='"$(VERSION)"' -Iagent \
	$(WARN) $(HARDEN)
LDFLAGS ?=
BASE_LDFLAGS := -pie -Wl,-z,relro,-z,now -pthread
LIBS    := -lrbd -lrados -lcryptsetup -ljson-c -linih -lssl -lcrypto -lvirt -lrabbitmq

# agent/ is one folder per layer (docs/architecture.md); DIRS is their order,
# lowest first. Sources are taken by folder, never listed by hand.
DIRS       := base luks config stream ceph keys records runtime volume compute feed kolla cli
dir_srcs    = $(foreach d,$(1),$(sort $(wildcard agent/$(d)/*.c)))
LIB_SRCS   := $(call dir_srcs,$(DIRS))
AGENT_SRCS := agent/main.c $(LIB_SRCS)
UNIT_SRCS  := $(sort $(wildcard tests/unit/*.c tests/unit/*/*.c))

AGENT_OBJS := $(AGENT_SRCS:%.c=$(BUILD)/%.o)
LIB_OBJS   := $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_OBJS  := $(UNIT_SRCS:%.c=$(BUILD)/%.o)
# Each object depends on the headers it includes (-MMD -MP), no more.
DEPFLAGS   := -MMD -MP
-include $(AGENT_OBJS:.o=.d) $(UNIT_OBJS:.o=.d)

.PHONY: all unit unit-asan fuzz fuzz-build fuzz-smoke valgrind integration check demo deps clean bench \
	static musl-check image

all: $(BUILD)/rbd-luks-agent

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(DEPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/rbd-luks-agent: $(AGENT_OBJS)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/unit-tests: $(LIB_OBJS) $(UNIT_OBJS)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

# Unit tests call the modules' functions directly; the runner prints
# "N passed, N failed".
unit: $(BUILD)/unit-tests $(BUILD)/rbd-luks-agent
	$(BUILD)/unit-tests

# The same unit tests under AddressSanitizer and UndefinedBehaviorSanitizer.
unit-asan:
	$(MAKE) BUILD=$(BUILD)/asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		LDFLAGS="-fsanitize=address,undefined" $(BUILD)/asan/unit-tests
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(BUILD)/asan/unit-tests

# libFuzzer targets (tests/fuzz/), built with clang and linked only with the
# modules each one needs: no librbd, libvirt or libcryptsetup. `make fuzz`
# runs each for FUZZ_SECONDS, new inputs going to $(FUZZ_WORK) (not the
# seed corpus) and crashes to $(FUZZ_WORK)/<target>-crash-*; `make fuzz-smoke` only
# replays each seed corpus, as a regression test.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_WORK    ?= $(BUILD)/fuzz/work
FUZZ_CFLAGS  := -std=gnu11 -D_GNU_SOURCE -Iagent $(WARN) -g -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_TARGETS := event hookfile config
# Each target links whole folders (base/ needs no library beyond libc and
# json-c) plus the few files it names.
FUZZ_SRCS_event    := $(call dir_srcs,base) agent/stream/event.c
FUZZ_LIBS_event    := -ljson-c
FUZZ_MAXLEN_event  := 16384
FUZZ_SRCS_hookfile := $(call dir_srcs,base) agent/stream/hookfile.c agent/stream/hookfile_rotation.c \
	agent/stream/hookfile_watch.c
FUZZ_LIBS_hookfile := -ljson-c
FUZZ_MAXLEN_hookfile := 4096
FUZZ_SRCS_config   := $(call dir_srcs,base config) agent/keys/keyring.c agent/keys/keywrap.c \
	agent/keys/keywrap_record.c
FUZZ_LIBS_config   := -linih -ljson-c -lcrypto
FUZZ_MAXLEN_config := 8192
FUZZ_BINS := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)
# Made by a pattern rule for a pattern rule: keep them, they are the product.
.SECONDARY: $(FUZZ_BINS)

.SECONDEXPANSION:
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $$(FUZZ_SRCS_$$*) $(wildcard agent/*/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_SRCS_$*) $(FUZZ_LIBS_$*)

fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_TARGETS:%=fuzz-run-%)

fuzz-run-%: $(BUILD)/fuzz/fuzz_%
	@mkdir -p $(FUZZ_WORK)/$*
	@echo "== fuzz_$* for $(FUZZ_SECONDS) s (new inputs: $(FUZZ_WORK)/$*)"
	$< -max_total_time=$(FUZZ_SECONDS) -timeout=10 -max_len=$(FUZZ_MAXLEN_$*) \
		-dict=tests/fuzz/$*.dict -print_final_stats=1 -artifact_prefix=$(FUZZ_WORK)/$*- \
		$(FUZZ_WORK)/$* tests/fuzz/corpus/$*

# Each seed input once, no mutation: a few seconds in all.
fuzz-smoke: $(FUZZ_TARGETS:%=fuzz-smoke-%)

fuzz-smoke-%: $(BUILD)/fuzz/fuzz_%
	@mkdir -p $(FUZZ_WORK)
	@$< -runs=0 -artifact_prefix=$(FUZZ_WORK)/smoke-$*- tests/fuzz/corpus/$* \
		>$(FUZZ_WORK)/smoke-$*.log 2>&1 || \
		{ cat $(FUZZ_WORK)/smoke-$*.log; echo "fuzz-smoke: fuzz_$* FAILED"; exit 1; }
	@echo "fuzz-smoke: fuzz_$*: $$(ls tests/fuzz/corpus/$* | wc -l) seed inputs, no failure"

# `make static`: inih, json-c, rabbitmq-c and OpenSSL linked in; librbd,
# librados, libcryptsetup and libvirt (no static builds) and libc stay
# dynamic. --exclude-libs keeps the static copies private to the agent, so
# libcryptsetup and librados go on using the system's OpenSSL and json-c.
STATIC_LIBS := -Wl,--exclude-libs,ALL -Wl,-Bstatic -linih -ljson-c -lrabbitmq -lssl -lcrypto \
	-Wl,-Bdynamic -lrbd -lrados -lcryptsetup -lvirt

$(BUILD)/static/rbd-luks-agent: $(AGENT_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $^ $(STATIC_LIBS)

static: $(BUILD)/static/rbd-luks-agent
	tests/lib/check-static.sh $<

# `make musl-check`: the modules that need neither Ceph, libvirt nor
# libcryptsetup (config, hook file, events, checkpoint, the file and command
# key providers) built with musl-gcc -static with their unit tests, so the
# core stays portable to musl-based images. tests/musl/deps.sh builds
# json-c for musl (and takes Debian's libinih.a as it is).
MUSL_CC   ?= musl-gcc
MUSL_DEPS := $(BUILD)/musl/deps
# The folders that need neither Ceph, libvirt, libcryptsetup nor OpenSSL, and
# the key providers of keys/ that need none of them either.
MUSL_DIRS  := base config stream
MUSL_KEYS  := agent/keys/keys.c agent/keys/provider_file.c agent/keys/provider_command.c
MUSL_SRCS  := $(call dir_srcs,$(MUSL_DIRS)) $(MUSL_KEYS) tests/musl/no_metadata.c
# test_secret.c also checks luks/keyslot.c's wiping, which needs OpenSSL.
MUSL_TESTS := tests/unit/unit.c tests/unit/keys/test_keys.c $(filter-out tests/unit/base/test_secret.c, \
	$(foreach d,$(MUSL_DIRS),$(sort $(wildcard tests/unit/$(d)/*.c))))
MUSL_CFLAGS := -std=gnu11 -D_GNU_SOURCE -DAGENT_VERSION='"$(VERSION)"' -Iagent -I$(MUSL_DEPS)/include \
	$(WARN) -fstack-protector-strong -O2 -g
MUSL_OBJS := $(MUSL_SRCS:%.c=$(BUILD)/musl/%.o) $(MUSL_TESTS:%.c=$(BUILD)/musl/%.o)

$(MUSL_DEPS)/lib/libjson-c.a:
	tests/musl/deps.sh $(MUSL_DEPS)

$(BUILD)/musl/agent/%.o $(BUILD)/musl/tests/musl/%.o: CHECK_FLAGS :=
# Tests size some paths loosely; glibc's fortified headers hide the same
# truncation warnings musl's headers let through.
$(BUILD)/musl/tests/unit/%.o: CHECK_FLAGS := -Wno-format-truncation
$(BUILD)/musl/%.o: %.c $(MUSL_DEPS)/lib/libjson-c.a
	@mkdir -p $(dir $@)
	$(MUSL_CC) $(MUSL_CFLAGS) $(DEPFLAGS) $(CHECK_FLAGS) -c $< -o $@
-include $(MUSL_OBJS:.o=.d)

$(BUILD)/musl/unit-tests: $(MUSL_OBJS)
	$(MUSL_CC) -static -o $@ $^ -L$(MUSL_DEPS)/lib -ljson-c -linih -pthread

musl-check: $(BUILD)/musl/unit-tests
	@file $< | grep -q 'statically linked' || { echo "musl-check: $< is not static"; exit 1; }
	$<

# The container image (container/README.md), built with podman or buildah
# from a base image made here with debootstrap: no registry. With
# CONTAINER_STORAGE_ROOT and CONTAINER_STORAGE_RUNROOT, into that private
# storage (the container_* tests use build/container/{storage,runroot}).
image:
	tests/lib/deps.sh container
	VERSION=$(VERSION) container/build-image.sh \
		$(if $(CONTAINER_STORAGE_ROOT),--root $(CONTAINER_STORAGE_ROOT) --runroot $(CONTAINER_STORAGE_RUNROOT))

# Integration tests boot real services (Ceph, qemu, cryptsetup) privately.
# INTEGRATION_AGENT_2=BINARY: ceph_keys and ceph_keyslot run again with it, on the same cluster.
integration: all
	AGENT_2='$(INTEGRATION_AGENT_2)' AGENT_2_TESTS='ceph_keys ceph_keyslot' \
		tests/integration/run.sh $(BUILD)/rbd-luks-agent

# One run --once under valgrind on a private Ceph cluster: no error, no leak
# (tests/integration/ceph_valgrind.sh; `make integration` runs it too).
valgrind: all
	tests/integration/run.sh $(BUILD)/rbd-luks-agent ceph_valgrind

# Benchmarks run on demand, never from check: they need root and start private
# services (see bench/README.md). One recipe line per benchmark script; each
# takes the agent binary as its first argument.
bench:
	$(MAKE) all
	bench/feeder_throughput.sh $(BUILD)/rbd-luks-agent
	bench/format_latency.sh $(BUILD)/rbd-luks-agent
	bench/volume_burst.sh $(BUILD)/rbd-luks-agent
	bench/ignored_events.sh $(BUILD)/rbd-luks-agent
	bench/attach_cost.sh $(BUILD)/rbd-luks-agent
	bench/compute_invariant.sh $(BUILD)/rbd-luks-agent
	bench/cinder_create.sh $(BUILD)/rbd-luks-agent
	bench/convert.sh $(BUILD)/rbd-luks-agent

deps:
	tests/lib/deps.sh all

check: deps
	tests/lib/check-deps-groups.sh
	tests/lib/check-includes.py
	tests/lib/check-includes.py --self-test
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) unit-asan
	$(MAKE) musl-check
	$(MAKE) static
	$(MAKE) fuzz-smoke
	$(MAKE) integration INTEGRATION_AGENT_2=$(BUILD)/static/rbd-luks-agent

demo:
	tests/lib/deps.sh demo
	$(MAKE) all
	tests/demo.sh $(BUILD)/rbd-luks-agent

clean:
	rm -rf $(BUILD)
