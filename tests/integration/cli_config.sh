# The command line and check-config, without any service: exit codes, help,
# and every config problem printed as FILE:LINE: message.
. "$(dirname "$0")/../lib/testlib.sh"

check "--version prints the version" bash -c "'$AGENT' --version | grep -Eq '^rbd-luks-agent [0-9]+\.[0-9]+\.[0-9]+$'"
for cmd in "" check-config run format; do
    check "help for '${cmd:-main}' exits 0 and shows usage" bash -c "'$AGENT' $cmd --help | grep -q '^Usage: rbd-luks-agent'"
done
check "no command: exit 2" bash -c "'$AGENT' >/dev/null 2>&1; [ \$? = 2 ]"
check "unknown command: exit 2" bash -c "'$AGENT' frobnicate >/dev/null 2>&1; [ \$? = 2 ]"
check "run with a stray argument: exit 2" bash -c "'$AGENT' -c x run --twice >/dev/null 2>&1; [ \$? = 2 ]"

dir=$T_TMP/good
make_agent_dir "$dir"
check "a good config passes check-config" bash -c "'$AGENT' -c '$dir/agent.ini' check-config | grep -q ': OK'"

bad=$T_TMP/bad.ini
cat >"$bad" <<INI
[agent]
role = volume
hook_file = relative/events.jsonl
state_dir = $T_TMP/no-such-dir
workers = lots
[ceph]
conf = $CEPH_CONF
client = client.cinder
pool = volumes
[volume]
types = *
colour = blue
[keys]
provider = file
directory = $T_TMP/no-such-keys
[luks]
iter_time_ms = 2000
iterations = 5000
INI
"$AGENT" -c "$bad" check-config >"$T_TMP/out" 2>&1
check_eq "a bad config: exit 1" 1 $?
expect() { check "problem: $2" grep -qF "$bad:$1: $2" "$T_TMP/out"; }
expect 3 "hook_file"
expect 5 "workers"
expect 8 "client = 'client.cinder': give the cephx user without"
expect 12 "unknown key 'colour' in [volume]"
expect 18 "iter_time_ms and iterations are mutually exclusive"
check "problem: missing state_dir is reported" grep -q "$bad:4: .*no-such-dir" "$T_TMP/out"
check "problem: missing key directory is reported" grep -q "$bad:15: .*no-such-keys" "$T_TMP/out"
check "every output line is FILE:LINE: message" bash -c "! grep -v '^$bad:[0-9]*: ' '$T_TMP/out'"
check "a missing config file: exit 1 with the reason" bash -c "'$AGENT' -c '$T_TMP/none.ini' check-config 2>&1 | grep -q 'none.ini:0: cannot read: No such file or directory'"
check "the sample config parses (only its paths are missing here)" bash -c "'$AGENT' -c '$(dirname "$0")/../../config/rbd-luks-agent.ini' check-config 2>&1 | grep -v 'No such file\|does not exist\|not found\|cannot' | grep -q . && exit 1 || exit 0"
