# rbd-luks-agent. `make` builds build/rbd-luks-agent; `make check` installs
# what is missing, builds, and runs every test; `make demo` shows the main job
# on a private one-node Ceph cluster. See README.md.

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
LIBS    := -lrbd -lrados -lcryptsetup -ljson-c -linih -lcrypto -lvirt

AGENT_SRCS := $(sort $(wildcard agent/*.c))
LIB_SRCS   := $(filter-out agent/main.c,$(AGENT_SRCS))
UNIT_SRCS  := $(sort $(wildcard tests/unit/*.c))

AGENT_OBJS := $(AGENT_SRCS:%.c=$(BUILD)/%.o)
LIB_OBJS   := $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_OBJS  := $(UNIT_SRCS:%.c=$(BUILD)/%.o)

.PHONY: all unit unit-asan integration check demo deps clean

all: $(BUILD)/rbd-luks-agent

$(BUILD)/%.o: %.c $(wildcard agent/*.h tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -c $< -o $@

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

# Integration tests boot real services (Ceph, qemu, cryptsetup) privately.
integration: all
	tests/integration/run.sh $(BUILD)/rbd-luks-agent

deps:
	tests/lib/deps.sh all

check: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) unit-asan
	$(MAKE) integration

demo:
	tests/lib/deps.sh demo
	$(MAKE) all
	tests/demo.sh $(BUILD)/rbd-luks-agent

clean:
	rm -rf $(BUILD)
