/* Unit tests for agent/config/: the table of bad files: each makes exactly one
 * problem, and the test compares its whole "FILE:LINE: message" (syntax,
 * numbers, names and paths of every section).
 * The files, helpers and line numbers they share: config_test.h. */
#include "config_test.h"
#include "../unit.h"

#include <errno.h>

struct bad_case {
        const char *name;
        const char *text;
        const char *problem; /* after the file name */
};

static const struct bad_case bad_cases[] = {
        {"unknown section", MINIMAL "[foo]\nx = 1\n",
         ":14: unknown section [foo] (known: agent, ceph, volume, compute, keys, luks, retry, "
         "amqp, secret:NAME)"},
        {"unknown key", MINIMAL "colour = red\n", ":14: unknown key 'colour' in [keys]"},
        {"duplicate key", MINIMAL "provider = file\n",
         ":14: duplicate key 'provider' in [keys] (first set at line 12)"},
        {"duplicate section", MINIMAL "[agent]\n",
         ":14: duplicate section [agent] (first at line 1)"},
        {"key outside section", "x = 1\n" MINIMAL, ":1: key 'x' is outside any section"},
        {"not a number", MINIMAL "[retry]\ninitial_ms = 10s\n",
         ":15: initial_ms = '10s': not a decimal number (allowed: 10..600000)"},
        {"signed number", MINIMAL "[retry]\ngive_up_after_s = -1\n",
         ":15: give_up_after_s = '-1': not a decimal number (allowed: 1..604800)"},
        {"hex number", MINIMAL "[retry]\ngive_up_after_s = 0x10\n",
         ":15: give_up_after_s = '0x10': not a decimal number (allowed: 1..604800)"},
        {"empty number", AGENT "workers =\n" CEPH VOLUME KEYS,
         ":5: workers = '': not a decimal number (allowed: 0..64)"},
        {"out of range", MINIMAL "[retry]\ninitial_ms = 5\n",
         ":15: initial_ms = '5': out of range (allowed: 10..600000)"},
        {"above range", AGENT "workers = 65\n" CEPH VOLUME KEYS,
         ":5: workers = '65': out of range (allowed: 0..64)"},
        {"overflow", MINIMAL "[luks]\niterations = 99999999999999999999999\n",
         ":15: iterations = '99999999999999999999999': out of range (allowed: "
         "1000..100000000)"},
        {"iter_time_ms and iterations", MINIMAL "[luks]\niter_time_ms = 100\niterations = 5000\n",
         ":16: iter_time_ms and iterations are mutually exclusive (set only one)"},
        {"kdf = fast with iterations", MINIMAL "[luks]\nkdf = fast\niterations = 5000\n",
         ":16: kdf = fast sets the iteration count itself (the minimum, 1000); remove iterations"},
        {"kdf = fast with iter_time_ms", MINIMAL "[luks]\niter_time_ms = 100\nkdf = fast\n",
         ":15: kdf = fast sets the iteration count itself (the minimum, 1000); remove "
         "iter_time_ms"},
        {"max_convert_gib too large", AGENT CEPH VOLUME "max_convert_gib = 4097\n" KEYS,
         ":11: max_convert_gib = '4097': out of range (allowed: 0..4096)"},
        {"audit_interval_s too large", AGENT CEPH VOLUME "audit_interval_s = 86401\n" KEYS,
         ":11: audit_interval_s = '86401': out of range (allowed: 0..86400)"},
        {"unknown deleted_keys", AGENT CEPH VOLUME "deleted_keys = forget\n" KEYS,
         ":11: deleted_keys = 'forget': allowed: keep, shred"},
        {"unknown kdf", MINIMAL "[luks]\nkdf = none\n",
         ":15: kdf = 'none': allowed: standard, fast"},
        {"unknown keyslot writer", MINIMAL "[luks]\nkeyslot_writer = cryptsetup\n",
         ":15: keyslot_writer = 'cryptsetup': allowed: agent, libcryptsetup"},
        {"missing required key", AGENT "[ceph]\nconf = /c\nclient = cinder\n" VOLUME KEYS,
         ":5: missing required key 'pool' in [ceph]"},
        {"missing section", AGENT VOLUME KEYS,
         ":0: missing section [ceph] (required: conf, client, pool)"},
        {"missing section keys", AGENT CEPH VOLUME,
         ":0: missing section [keys] (required: provider)"},
        {"missing directory", AGENT CEPH VOLUME "[keys]\nprovider = file\n",
         ":11: missing key 'directory' in [keys] (required by provider = file)"},
        {"missing command", AGENT CEPH VOLUME "[keys]\nprovider = command\n",
         ":11: missing key 'command' in [keys] (required by provider = command)"},
        {"directory with command",
         AGENT CEPH VOLUME "[keys]\nprovider = command\ncommand = /k\ndirectory = /d\n",
         ":14: directory is only used by provider = file"},
        {"command with file", MINIMAL "command = /bin/k\n",
         ":14: command is only used by provider = command"},
        {"command timeout with file", MINIMAL "command_timeout_ms = 500\n",
         ":14: command_timeout_ms is only used by provider = command"},
        {"bad provider", AGENT CEPH VOLUME "[keys]\nprovider = vault\n",
         ":12: provider = 'vault': allowed: file, command, metadata"},
        {"missing kek_id", AGENT CEPH VOLUME "[keys]\nprovider = metadata\nkek_file = /k\n",
         ":11: missing key 'kek_id' in [keys] (required by provider = metadata)"},
        {"missing kek_file", AGENT CEPH VOLUME "[keys]\nprovider = metadata\nkek_id = k\n",
         ":11: missing key 'kek_file' in [keys] (required by provider = metadata)"},
        {"kek_id characters", AGENT CEPH VOLUME
         "[keys]\nprovider = metadata\nkek_id = kek/1\nkek_file = /k\n",
         ":13: kek_id = 'kek/1': not a valid name (allowed: 1 to 32 characters of "
         "A-Z a-z 0-9 _ . -)"},
        {"kek_id too long", AGENT CEPH VOLUME
         "[keys]\nprovider = metadata\nkek_id = a123456789b123456789c123456789abc\n"
         "kek_file = /k\n",
         ":13: kek_id = 'a123456789b123456789c123456789abc': not a valid name (allowed: 1 to 32 "
         "characters of A-Z a-z 0-9 _ . -)"},
        {"kek_id empty", AGENT CEPH VOLUME "[keys]\nprovider = metadata\nkek_id =\nkek_file = /k\n",
         ":13: kek_id = '': not a valid name (allowed: 1 to 32 characters of A-Z a-z 0-9 _ . -)"},
        {"kek_file relative", AGENT CEPH VOLUME
         "[keys]\nprovider = metadata\nkek_id = k\nkek_file = kek.bin\n",
         ":14: kek_file = 'kek.bin': must be an absolute path"},
        {"directory with metadata", METADATA "directory = /d\n",
         ":15: directory is only used by provider = file"},
        {"command with metadata", METADATA "command = /bin/k\n",
         ":15: command is only used by provider = command"},
        {"command timeout with metadata", METADATA "command_timeout_ms = 500\n",
         ":15: command_timeout_ms is only used by provider = command"},
        {"kek_id with file", MINIMAL "kek_id = kek-1\n",
         ":14: kek_id is only used by provider = metadata"},
        {"kek_file with file", MINIMAL "kek_file = /k\n",
         ":14: kek_file is only used by provider = metadata"},
        {"old_keks with command",
         AGENT CEPH VOLUME "[keys]\nprovider = command\ncommand = /k\nold_keks = a:/a\n",
         ":14: old_keks is only used by provider = metadata"},
        {"old_keks empty entry", METADATA "old_keks = a:/a,,b:/b\n",
         ":15: old_keks = 'a:/a,,b:/b': empty entry in the list"},
        {"old_keks trailing comma", METADATA "old_keks = a:/a, \n",
         ":15: old_keks = 'a:/a,': empty entry in the list"},
        {"old_keks no colon", METADATA "old_keks = a:/a, kek-0\n",
         ":15: old_keks = 'a:/a, kek-0': 'kek-0' is not ID:PATH"},
        {"old_keks bad id", METADATA "old_keks = kek 0:/a\n",
         ":15: old_keks = 'kek 0:/a': 'kek 0' is not a valid KEK id (allowed: 1 to 32 "
         "characters of A-Z a-z 0-9 _ . -)"},
        {"old_keks empty id", METADATA "old_keks = :/a\n",
         ":15: old_keks = ':/a': '' is not a valid KEK id (allowed: 1 to 32 characters of "
         "A-Z a-z 0-9 _ . -)"},
        {"old_keks id too long", METADATA "old_keks = a123456789b123456789c123456789abc:/a\n",
         ":15: old_keks = 'a123456789b123456789c123456789abc:/a': "
         "'a123456789b123456789c123456789abc' is not a valid KEK id (allowed: 1 to 32 "
         "characters of A-Z a-z 0-9 _ . -)"},
        {"old_keks relative path", METADATA "old_keks = a:/a,  kek-0:kek.bin\n",
         ":15: old_keks = 'a:/a,  kek-0:kek.bin': 'kek-0:kek.bin': KEK file must be an "
         "absolute path"},
        {"old_keks empty path", METADATA "old_keks = kek-0:\n",
         ":15: old_keks = 'kek-0:': 'kek-0:': KEK file must be an absolute path"},
        {"old_keks duplicate id", METADATA "old_keks = kek-0:/a, kek-0:/b\n",
         ":15: old_keks = 'kek-0:/a, kek-0:/b': KEK id 'kek-0' is listed twice"},
        {"old_keks holds kek_id", METADATA "old_keks = kek-0:/a, kek-1:/b\n",
         ":15: old_keks: KEK id 'kek-1' is already kek_id (each KEK needs an id of its own)"},
        {"old_keks holds later kek_id", AGENT CEPH VOLUME
         "[keys]\nprovider = metadata\nold_keks = k:/a\nkek_id = k\nkek_file = /k\n",
         ":13: old_keks: KEK id 'k' is already kek_id (each KEK needs an id of its own)"},
        {"bad cipher", MINIMAL "[luks]\ncipher = aes-ctr\n",
         ":15: cipher = 'aes-ctr': allowed: aes-xts-plain64, serpent-xts-plain64, "
         "twofish-xts-plain64, aes-cbc-essiv:sha256"},
        {"key_bits for xts", MINIMAL "[luks]\nkey_bits = 128\n",
         ":15: key_bits = '128': aes-xts-plain64 takes 256 or 512"},
        {"key_bits for cbc", MINIMAL "[luks]\ncipher = aes-cbc-essiv:sha256\nkey_bits = 512\n",
         ":16: key_bits = '512': aes-cbc-essiv:sha256 takes 128, 192 or 256"},
        {"bad hash", MINIMAL "[luks]\nhash = md5\n",
         ":15: hash = 'md5': allowed: sha1, sha256, sha512"},
        {"client. prefix",
         AGENT "[ceph]\nconf = /c\nclient = client.cinder\npool = p\n" VOLUME KEYS,
         ":7: client = 'client.cinder': give the cephx user without \"client.\" (client = "
         "cinder)"},
        {"pool characters", AGENT "[ceph]\nconf = /c\nclient = c\npool = my pool\n" VOLUME KEYS,
         ":8: pool = 'my pool': not a valid name (allowed: 1 to 100 characters of "
         "A-Z a-z 0-9 _ . -)"},
        {"pool too long", AGENT "[ceph]\nconf = /c\nclient = c\npool = "
                          "a123456789a123456789a123456789a123456789a123456789"
                          "a123456789a123456789a123456789a123456789a123456789x\n" VOLUME KEYS,
         ":8: pool = 'a123456789a123456789a123456789a123456789a123456789"
         "a123456789a123456789a123456789a123456789a123456789x': not a valid name (allowed: "
         "1 to 100 characters of A-Z a-z 0-9 _ . -)"},
        {"types empty element", AGENT CEPH "[volume]\ntypes = a,,b\n" KEYS,
         ":10: types = 'a,,b': empty volume type id in the list"},
        {"types trailing comma", AGENT CEPH "[volume]\ntypes = a,\n" KEYS,
         ":10: types = 'a,': empty volume type id in the list"},
        {"types star in list", AGENT CEPH "[volume]\ntypes = a, *\n" KEYS,
         ":10: types = 'a, *': * must stand alone"},
        {"types bad id", AGENT CEPH "[volume]\ntypes = a, b/c\n" KEYS,
         ":10: types = 'a, b/c': 'b/c' is not a valid volume type id (allowed: 1 to 64 "
         "characters of A-Z a-z 0-9 _ . -)"},
        {"relative path", "[agent]\nrole = volume\nhook_file = /h\nstate_dir = var/lib\n" CEPH
                          VOLUME KEYS,
         ":4: state_dir = 'var/lib': must be an absolute path"},
        {"role other", "[agent]\nrole = web\nhook_file = /h\nstate_dir = /s\n" CEPH VOLUME KEYS,
         ":2: role = 'web': allowed: volume, compute"},
        /* Not knowing the role, nothing is said about the sections it needs. */
        {"role other without [volume]",
         "[agent]\nrole = web\nhook_file = /h\nstate_dir = /s\n" CEPH KEYS,
         ":2: role = 'web': allowed: volume, compute"},
        {"missing role", "[agent]\nhook_file = /h\nstate_dir = /s\n" CEPH KEYS,
         ":1: missing required key 'role' in [agent]"},

        /* Sections and roles. */
        {"volume role without [volume]", AGENT CEPH KEYS,
         ":0: missing section [volume] (required: types)"},
        {"compute role with [volume]", COMPUTE_AGENT CEPH VOLUME KEYS,
         ":9: [volume] is only used by role = volume"},
        {"compute role with [volume] lacking types", COMPUTE_AGENT CEPH "[volume]\n" KEYS,
         ":9: [volume] is only used by role = volume"},
        {"volume role with [compute]", MINIMAL "[compute]\nuri = qemu:///system\n",
         ":14: [compute] is only used by role = compute"},
        {"volume role with [secret:*]", MINIMAL SECRET_CEPH,
         ":14: [secret:ceph] is only used by role = compute"},
        {"volume role with an empty [secret:*]", MINIMAL "[secret:a]\n",
         ":14: [secret:a] is only used by role = compute"},
        {"compute role without [ceph]", COMPUTE_AGENT "[compute]\n" KEYS,
         ":0: missing section [ceph] (required: conf, client, pool)"},
        {"compute role without [keys]", COMPUTE_AGENT CEPH "[compute]\n",
         ":0: missing section [keys] (required: provider)"},
        {"duplicate [compute]", COMPUTE "[compute]\n",
         ":14: duplicate section [compute] (first at line 9)"},

        /* [compute] values; line 10. */
        {"uri with a space", COMPUTE_WITH("uri = qemu:///system x\n"),
         ":10: uri = 'qemu:///system x': not a libvirt URI (allowed: 1 to 512 printable ASCII "
         "characters, no spaces)"},
        {"uri empty", COMPUTE_WITH("uri =\n"),
         ":10: uri = '': not a libvirt URI (allowed: 1 to 512 printable ASCII characters, no "
         "spaces)"},
        {"uri control character", COMPUTE_WITH("uri = qemu:///sys\x01tem\n"),
         ":10: uri = 'qemu:///sys\x01tem': not a libvirt URI (allowed: 1 to 512 printable ASCII "
         "characters, no spaces)"},
        {"uri non-ASCII", COMPUTE_WITH("uri = qemu:///syst\xc3\xa9m\n"),
         ":10: uri = 'qemu:///syst\xc3\xa9m': not a libvirt URI (allowed: 1 to 512 printable "
         "ASCII characters, no spaces)"},
        {"host with a space", COMPUTE_WITH("host = compute 1\n"),
         ":10: host = 'compute 1': not a valid host name (allowed: 1 to 255 characters of "
         "A-Z a-z 0-9 _ . -, or empty for this machine's hostname)"},
        {"host with a slash", COMPUTE_WITH("host = a/b\n"),
         ":10: host = 'a/b': not a valid host name (allowed: 1 to 255 characters of "
         "A-Z a-z 0-9 _ . -, or empty for this machine's hostname)"},
        {"compute types", COMPUTE_WITH("types = a,,b\n"),
         ":10: types = 'a,,b': empty volume type id in the list"},
        {"compute private", COMPUTE_WITH("private = true\n"),
         ":10: private = 'true': allowed: yes, no"},
        {"reconcile_interval_s low", COMPUTE_WITH("reconcile_interval_s = 9\n"),
         ":10: reconcile_interval_s = '9': out of range (allowed: 10..86400)"},
        {"reconcile_interval_s high", COMPUTE_WITH("reconcile_interval_s = 86401\n"),
         ":10: reconcile_interval_s = '86401': out of range (allowed: 10..86400)"},
        {"gc_interval_s in the gap", COMPUTE_WITH("gc_interval_s = 59\n"),
         ":10: gc_interval_s = '59': out of range (allowed: 0 (never) or 60..604800)"},
        {"gc_interval_s 1", COMPUTE_WITH("gc_interval_s = 1\n"),
         ":10: gc_interval_s = '1': out of range (allowed: 0 (never) or 60..604800)"},
        {"gc_interval_s high", COMPUTE_WITH("gc_interval_s = 604801\n"),
         ":10: gc_interval_s = '604801': out of range (allowed: 0 (never) or 60..604800)"},
        {"gc_interval_s not a number", COMPUTE_WITH("gc_interval_s = 1h\n"),
         ":10: gc_interval_s = '1h': not a decimal number (allowed: 0 (never) or 60..604800)"},
        {"gc_grace_s high", COMPUTE_WITH("gc_grace_s = 604801\n"),
         ":10: gc_grace_s = '604801': out of range (allowed: 0..604800)"},
        {"volume key in [compute]", COMPUTE_WITH("lock_stale_after_s = 600\n"),
         ":10: unknown key 'lock_stale_after_s' in [compute]"},
        {"secret key in [compute]", COMPUTE_WITH(UUID_1),
         ":10: unknown key 'uuid' in [compute]"},

        /* [secret:NAME] headers, from line 14. */
        {"secret name with a space", COMPUTE "[secret:ceph cinder]\nusage = nonsense\n",
         ":14: [secret:ceph cinder]: not a valid secret name (allowed: 1 to 64 characters of "
         "A-Z a-z 0-9 _ . -)"},
        {"secret name empty", COMPUTE "[secret:]\n",
         ":14: [secret:]: not a valid secret name (allowed: 1 to 64 characters of "
         "A-Z a-z 0-9 _ . -)"},
        {"secret name too long",
         COMPUTE "[secret:a123456789b123456789c123456789d123456789e123456789f123456789g1234]\n",
         ":14: [secret:a123456789b123456789c123456789d123456789e123456789f123456789g1234]: "
         "not a valid secret name (allowed: 1 to 64 characters of A-Z a-z 0-9 _ . -)"},
        {"secret without a name", COMPUTE "[secret]\n",
         ":14: unknown section [secret] (known: agent, ceph, volume, compute, keys, luks, retry, "
         "amqp, secret:NAME)"},
        {"duplicate secret name",
         COMPUTE SECRET_CEPH "[secret:ceph]\n" UUID_1
         "usage = volume\nvolume = 6a7c2ec6-6b8e-4f5a-9d43-2f0c1a6b5e3d\nkey_file = /k\n",
         ":20: duplicate section [secret:ceph] (first at line 14)"},
        {"unknown key in a secret", COMPUTE SECRET_CEPH "value = abc\n",
         ":20: unknown key 'value' in [secret:ceph]"},
        {"duplicate key in a secret", COMPUTE SECRET_CEPH "usage = ceph\n",
         ":20: duplicate key 'usage' in [secret:ceph] (first set at line 16)"},

        /* [secret:NAME] keys; the header is line 14. */
        {"secret missing uuid", COMPUTE SECRET_A "usage = ceph\nusage_name = n\nkey_file = /k\n",
         ":14: missing required key 'uuid' in [secret:a]"},
        {"secret missing usage", COMPUTE SECRET_A UUID_1 "key_file = /k\n",
         ":14: missing required key 'usage' in [secret:a]"},
        {"secret uuid short", COMPUTE SECRET_A "uuid = 1234\n"
         "usage = ceph\nusage_name = n\nkey_file = /k\n",
         ":15: uuid = '1234': not a UUID (allowed: 8-4-4-4-12 hexadecimal digits)"},
        {"secret uuid long", COMPUTE SECRET_A "uuid = 11111111-2222-3333-4444-5555555555556\n"
         "usage = ceph\nusage_name = n\nkey_file = /k\n",
         ":15: uuid = '11111111-2222-3333-4444-5555555555556': not a UUID (allowed: 8-4-4-4-12 "
         "hexadecimal digits)"},
        {"secret uuid not hex", COMPUTE SECRET_A "uuid = 1111111g-2222-3333-4444-555555555555\n"
         "usage = ceph\nusage_name = n\nkey_file = /k\n",
         ":15: uuid = '1111111g-2222-3333-4444-555555555555': not a UUID (allowed: 8-4-4-4-12 "
         "hexadecimal digits)"},
        {"secret uuid dashes misplaced",
         COMPUTE SECRET_A "uuid = 111111112-222-3333-4444-555555555555\n"
         "usage = ceph\nusage_name = n\nkey_file = /k\n",
         ":15: uuid = '111111112-222-3333-4444-555555555555': not a UUID (allowed: 8-4-4-4-12 "
         "hexadecimal digits)"},
        {"secret uuid without dashes",
         COMPUTE SECRET_A "uuid = 1111111122223333444455555555555555\n"
         "usage = ceph\nusage_name = n\nkey_file = /k\n",
         ":15: uuid = '1111111122223333444455555555555555': not a UUID (allowed: 8-4-4-4-12 "
         "hexadecimal digits)"},
        {"secret usage", COMPUTE SECRET_A UUID_1 "usage = iscsi\nkey_file = /k\n",
         ":16: usage = 'iscsi': allowed: ceph, volume"},
        {"ceph secret without usage_name", COMPUTE SECRET_A UUID_1 "usage = ceph\nkey_file = /k\n",
         ":14: missing key 'usage_name' in [secret:a] (required by usage = ceph)"},
        {"volume secret without volume",
         COMPUTE SECRET_A UUID_1 "usage = volume\nkey_file = /k\n",
         ":14: missing key 'volume' in [secret:a] (required by usage = volume)"},
        {"ceph secret with volume",
         COMPUTE SECRET_CEPH "volume = 6a7c2ec6-6b8e-4f5a-9d43-2f0c1a6b5e3d\n",
         ":20: volume is only used by usage = volume"},
        {"volume secret with usage_name",
         COMPUTE SECRET_A UUID_1 "usage = volume\nvolume = 6a7c2ec6-6b8e-4f5a-9d43-2f0c1a6b5e3d\n"
         "usage_name = n\nkey_file = /k\n",
         ":18: usage_name is only used by usage = ceph"},
        {"volume not a UUID", COMPUTE SECRET_A UUID_1 "usage = volume\nvolume = vol-1\n"
         "key_file = /k\n",
         ":17: volume = 'vol-1': not a UUID (allowed: 8-4-4-4-12 hexadecimal digits)"},
        {"usage_name with a tab", COMPUTE SECRET_A UUID_1 "usage = ceph\n"
         "usage_name = client.cinder\tsecret\nkey_file = /k\n",
         ":17: usage_name = 'client.cinder\tsecret': not a usage name (allowed: 1 to 127 "
         "printable ASCII characters)"},
        {"usage_name empty", COMPUTE SECRET_A UUID_1 "usage = ceph\nusage_name =\nkey_file = /k\n",
         ":17: usage_name = '': not a usage name (allowed: 1 to 127 printable ASCII "
         "characters)"},
        {"no value source", COMPUTE SECRET_A UUID_1 "usage = ceph\nusage_name = n\n",
         ":14: missing value source in [secret:a] (set keyring and entity, or key_file)"},
        {"keyring and key_file", COMPUTE SECRET_CEPH "key_file = /k\n",
         ":20: keyring and key_file are mutually exclusive (set only one)"},
        {"keyring without entity", COMPUTE SECRET_A UUID_1 "usage = ceph\nusage_name = n\n"
         "keyring = /etc/ceph/k\n",
         ":14: missing key 'entity' in [secret:a] (required by keyring)"},
        {"entity without keyring", COMPUTE SECRET_A UUID_1 "usage = ceph\nusage_name = n\n"
         "entity = client.cinder\nkey_file = /k\n",
         ":18: entity is only used with keyring"},
        {"entity without type", COMPUTE SECRET_A UUID_1 "usage = ceph\nusage_name = n\n"
         "keyring = /k\nentity = cinder\n",
         ":19: entity = 'cinder': give the full cephx entity name (entity = client.cinder)"},
        {"entity without id", COMPUTE SECRET_A UUID_1 "usage = ceph\nusage_name = n\n"
         "keyring = /k\nentity = client.\n",
         ":19: entity = 'client.': not a cephx entity name TYPE.ID (e.g. client.cinder)"},
        {"entity characters", COMPUTE SECRET_A UUID_1 "usage = ceph\nusage_name = n\n"
         "keyring = /k\nentity = client/cinder\n",
         ":19: entity = 'client/cinder': not a valid name (allowed: 1 to 100 characters of "
         "A-Z a-z 0-9 _ . -)"},
        {"keyring relative", COMPUTE SECRET_A UUID_1 "usage = ceph\nusage_name = n\n"
         "keyring = ceph.keyring\nentity = client.cinder\n",
         ":18: keyring = 'ceph.keyring': must be an absolute path"},
        {"key_file relative", COMPUTE SECRET_A UUID_1 "usage = ceph\nusage_name = n\n"
         "key_file = k.bin\n",
         ":18: key_file = 'k.bin': must be an absolute path"},
        {"secret private", COMPUTE SECRET_CEPH "private = 1\n",
         ":20: private = '1': allowed: yes, no"},

        /* Two sections for one libvirt secret. */
        {"duplicate uuid", COMPUTE SECRET_CEPH
         "[secret:b]\nuuid = 457eb676-33DA-42ec-9a8c-9293d545c337\nusage = ceph\n"
         "usage_name = other\nkey_file = /k\n",
         ":21: uuid '457eb676-33da-42ec-9a8c-9293d545c337' is already used by [secret:ceph] "
         "(line 14)"},
        {"duplicate ceph usage", COMPUTE SECRET_CEPH
         "[secret:b]\n" UUID_1 "usage = ceph\nusage_name = client.cinder secret\n"
         "key_file = /k\n",
         ":23: usage_name 'client.cinder secret' is already used by [secret:ceph] (line 14); "
         "libvirt keeps one secret per usage"},
        {"duplicate volume usage", COMPUTE
         SECRET_A UUID_1 "usage = volume\nvolume = 6a7c2ec6-6b8e-4f5a-9d43-2f0c1a6b5e3d\n"
         "key_file = /k\n"
         "[secret:b]\n" UUID_2 "usage = volume\nvolume = 6A7C2EC6-6B8E-4F5A-9D43-2F0C1A6B5E3D\n"
         "key_file = /k\n",
         ":22: volume '6a7c2ec6-6b8e-4f5a-9d43-2f0c1a6b5e3d' is already used by [secret:a] "
         "(line 14); libvirt keeps one secret per usage"},
        {"log level", AGENT "log_level = loud\n" CEPH VOLUME KEYS,
         ":5: log_level = 'loud': allowed: error, warn, info, debug"},
        {"log format", AGENT "log_format = xml\n" CEPH VOLUME KEYS,
         ":5: log_format = 'xml': allowed: text, json"},
        {"max_ms below initial_ms", MINIMAL "[retry]\ninitial_ms = 5000\nmax_ms = 1000\n",
         ":16: max_ms = '1000': must not be less than initial_ms (5000)"},
        {"initial_ms above default max", MINIMAL "[retry]\ninitial_ms = 120000\n",
         ":15: initial_ms = '120000': must not be more than max_ms (60000)"},

        /* [amqp]; the header is line 14, its first key line 15. */
        {"amqp host with a space", MINIMAL "[amqp]\nhost = rabbit 1\n",
         ":15: host = 'rabbit 1': not a host name or IP address (allowed: 1 to 255 characters "
         "of A-Z a-z 0-9 _ . - :)"},
        {"amqp host empty", MINIMAL "[amqp]\nhost =\n",
         ":15: host = '': not a host name or IP address (allowed: 1 to 255 characters of "
         "A-Z a-z 0-9 _ . - :)"},
        {"amqp port 0", MINIMAL "[amqp]\nport = 0\n",
         ":15: port = '0': out of range (allowed: 1..65535)"},
        {"amqp port too high", MINIMAL "[amqp]\nport = 65536\n",
         ":15: port = '65536': out of range (allowed: 1..65535)"},
        {"amqp vhost with a space", MINIMAL "[amqp]\nvhost = my vhost\n",
         ":15: vhost = 'my vhost': allowed: 1 to 255 printable ASCII characters, no spaces"},
        {"amqp user empty", MINIMAL "[amqp]\nuser =\n",
         ":15: user = '': allowed: 1 to 255 printable ASCII characters, no spaces"},
        {"amqp user control character", MINIMAL "[amqp]\nuser = a\x01b\n",
         ":15: user = 'a\x01b': allowed: 1 to 255 printable ASCII characters, no spaces"},
        {"amqp password_file relative", MINIMAL "[amqp]\npassword_file = amqp.pass\n",
         ":15: password_file = 'amqp.pass': must be an absolute path"},
        {"amqp exchange characters", MINIMAL "[amqp]\nexchange = open/stack\n",
         ":15: exchange = 'open/stack': not a valid name (allowed: 1 to 127 characters of "
         "A-Z a-z 0-9 _ . -)"},
        {"amqp queue reserved", MINIMAL "[amqp]\nqueue = amq.luks\n",
         ":15: queue = 'amq.luks': names starting with \"amq.\" are reserved by the broker"},
        {"amqp queue empty", MINIMAL "[amqp]\nqueue =\n",
         ":15: queue = '': not a valid name (allowed: 1 to 127 characters of A-Z a-z 0-9 _ . -)"},
        {"amqp routing key empty element", MINIMAL "[amqp]\nrouting_keys = a.info,,b.info\n",
         ":15: routing_keys = 'a.info,,b.info': empty routing key in the list"},
        {"amqp routing keys trailing comma", MINIMAL "[amqp]\nrouting_keys = a.info,\n",
         ":15: routing_keys = 'a.info,': empty routing key in the list"},
        {"amqp routing key characters", MINIMAL "[amqp]\nrouting_keys = a.info, b/c\n",
         ":15: routing_keys = 'a.info, b/c': 'b/c' is not a routing key (allowed: 1 to 255 "
         "characters of A-Z a-z 0-9 _ . - * #)"},
        {"amqp routing key twice", MINIMAL "[amqp]\nrouting_keys = a.info , a.info\n",
         ":15: routing_keys = 'a.info , a.info': routing key 'a.info' is listed twice"},
        {"amqp prefetch 0", MINIMAL "[amqp]\nprefetch = 0\n",
         ":15: prefetch = '0': out of range (allowed: 1..65535)"},
        {"amqp prefetch too high", MINIMAL "[amqp]\nprefetch = 65536\n",
         ":15: prefetch = '65536': out of range (allowed: 1..65535)"},
        {"amqp heartbeat too high", MINIMAL "[amqp]\nheartbeat_s = 601\n",
         ":15: heartbeat_s = '601': out of range (allowed: 0 (no heartbeats) or 1..600)"},
        {"amqp heartbeat not a number", MINIMAL "[amqp]\nheartbeat_s = 30s\n",
         ":15: heartbeat_s = '30s': not a decimal number (allowed: 0 (no heartbeats) or "
         "1..600)"},
        {"amqp batch_max 0", MINIMAL "[amqp]\nbatch_max = 0\n",
         ":15: batch_max = '0': out of range (allowed: 1..4096)"},
        {"amqp batch_max too high", MINIMAL "[amqp]\nprefetch = 8192\nbatch_max = 4097\n",
         ":16: batch_max = '4097': out of range (allowed: 1..4096)"},
        {"amqp batch_ms too high", MINIMAL "[amqp]\nbatch_ms = 1001\n",
         ":15: batch_ms = '1001': out of range (allowed: 0..1000)"},
        {"amqp batch_max above prefetch", MINIMAL "[amqp]\nprefetch = 10\nbatch_max = 20\n",
         ":16: batch_max = '20': must not be more than prefetch (10)"},
        {"amqp prefetch below default batch_max", MINIMAL "[amqp]\nprefetch = 10\n",
         ":15: prefetch = '10': must not be less than batch_max (64)"},
        {"amqp tls", MINIMAL "[amqp]\ntls = true\n", ":15: tls = 'true': allowed: yes, no"},
        {"amqp tls_verify", MINIMAL "[amqp]\ntls = yes\ntls_verify = 0\n",
         ":16: tls_verify = '0': allowed: yes, no"},
        {"amqp tls_ca_file relative", MINIMAL "[amqp]\ntls = yes\ntls_ca_file = ca.pem\n",
         ":16: tls_ca_file = 'ca.pem': must be an absolute path"},
        {"amqp tls_ca_file without tls", MINIMAL "[amqp]\ntls_ca_file = /etc/ca.pem\n",
         ":15: tls_ca_file is only used with tls = yes"},
        {"amqp tls_verify with tls = no", MINIMAL "[amqp]\ntls = no\ntls_verify = no\n",
         ":16: tls_verify is only used with tls = yes"},
        {"amqp unknown key", MINIMAL "[amqp]\nurl = amqp://x\n",
         ":15: unknown key 'url' in [amqp]"},
        {"amqp duplicate key", MINIMAL "[amqp]\nport = 1\nport = 2\n",
         ":16: duplicate key 'port' in [amqp] (first set at line 15)"},
        {"duplicate [amqp]", MINIMAL "[amqp]\n[amqp]\n",
         ":15: duplicate section [amqp] (first at line 14)"},
        {"no equals sign", MINIMAL "just some words\n",
         ":14: syntax error (expected [section] or key = value)"},
        {"continuation line", MINIMAL "  /more/path\n",
         ":14: syntax error (expected [section] or key = value)"},
        {"unterminated section", MINIMAL "[luks\n",
         ":14: syntax error (expected [section] or key = value)"},
        {"comment inside section header", MINIMAL "[luks ;]\n",
         ":14: syntax error (expected [section] or key = value)"},
};

TEST(config_each_problem_exact)
{
        for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
                const struct bad_case *b = &bad_cases[i];
                struct config_problems p = {0};
                struct config *c = NULL;
                int r = load_text(b->text, &c, &p);

                if (r != -EINVAL || c != NULL || p.count != 1 || p.dropped != 0 ||
                    !problem_is(&p, 0, b->problem)) {
                        unit_fail(__FILE__, __LINE__, b->name);
                        print_problems(&p);
                }
                config_free(c);
                config_problems_clear(&p);
        }
}
