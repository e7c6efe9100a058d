from __future__ import annotations

import marshal
import os

from ansible_collections.opsiface.sendmail.plugins.module_utils import _qcache, _queue
from ansible_collections.opsiface.sendmail.tests.unit.plugins.module_utils.queue_helpers import NOW, write_msg
from ansible_collections.opsiface.sendmail.tests.unit.plugins.module_utils.test_qrows import sample


def test_save_load_round_trip_and_refusals(tmp_path):
    dirs = ["/q"]
    path = _qcache.path_for(str(tmp_path / "c"), dirs)
    complete = sample().take([0, 2])  # only complete control files are cached
    assert _qcache.save(path, dirs, {"/q": (complete, {"dfAAAAAAAA0001": 7})}) is None
    got = _qcache.load(path, dirs)["/q"]
    assert got.rows.dump() == complete.dump() and got.df == {"dfAAAAAAAA0001": 7} and got.index["qfAAAAAAAA0003"] == 1
    assert _qcache.save(path, dirs, {"/q": (sample(), {})}) is None
    assert _qcache.load(path, dirs) == {}  # a row of an incomplete control file: not a cache we wrote
    _qcache.save(path, dirs, {"/q": (complete, {"dfAAAAAAAA0001": 7})})
    assert _qcache.load(path, ["/other"]) == {}  # another queue's directories
    os.chmod(path, 0o640)
    assert _qcache.load(path, dirs) == {}  # readable by others: not trusted
    os.chmod(path, 0o600)
    os.chown(path, 4242, 0)
    assert _qcache.load(path, dirs) == {}  # not ours
    os.unlink(path)
    os.symlink("/etc/passwd", path)
    assert _qcache.load(path, dirs) == {}
    os.unlink(path)
    open(path, "wb").write(b"\xff garbage")
    os.chmod(path, 0o600)
    assert _qcache.load(path, dirs) == {}


def test_save_refuses_a_directory_others_can_write_and_changes_nothing(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    problem = _qcache.save(str(shared / "x.cache"), ["/q"], {})
    assert "not a private directory" in problem and list(shared.iterdir()) == []
    assert shared.stat().st_mode & 0o777 == 0o777  # a guard refuses; it does not repair


def test_cache_skips_unchanged_files_and_rereads_rewritten_ones(tmp_path, fixture_bytes):
    template = fixture_bytes("queue/debian12-8.17.1.9-qf-deferred-relay.bin")
    q = tmp_path / "mqueue"
    q.mkdir()
    for n in range(5):
        write_msg(q, f"6ARAcach{n:06d}", template, int(NOW) - 100 * n)
    cache = tmp_path / "cache"
    first = _queue.scan_queue([str(q)], NOW, cache_dir=str(cache))
    assert first.files_read == 5 and first.cache["written"] and first.cache["hits"] == 0
    (cache_file,) = cache.iterdir()
    assert oct(cache_file.stat().st_mode & 0o777) == "0o600" and oct(cache.stat().st_mode & 0o777) == "0o700"
    second = _queue.scan_queue([str(q)], NOW, cache_dir=str(cache))
    assert second.files_read == 0 and second.cache["hits"] == 5
    assert (second.count, second.by_domain, second.oldest_age_seconds, second.size_bytes) == (
        first.count,
        first.by_domain,
        first.oldest_age_seconds,
        first.size_bytes,
    )
    # sendmail rewrites a qf through tf + rename: a new inode, so it is read again
    tf = q / "tf6ARAcach000001"
    tf.write_bytes(template.replace(b"N1\n", b"N9\n"))
    os.rename(tf, q / "qf6ARAcach000001")
    third = _queue.scan_queue([str(q)], NOW, cache_dir=str(cache))
    assert third.files_read == 1 and third.max_attempts == 9


def test_cache_not_ours_is_ignored_and_check_mode_writes_none(tmp_path, fixture_bytes):
    q = tmp_path / "mqueue"
    q.mkdir()
    write_msg(q, "6ARAcach000001", fixture_bytes("queue/debian12-8.17.1.9-qf-deferred-relay.bin"), int(NOW))
    cache = tmp_path / "cache"
    ro = _queue.scan_queue([str(q)], NOW, cache_dir=str(cache), write_cache=False)
    assert ro.cache["written"] is False and not cache.exists()
    _queue.scan_queue([str(q)], NOW, cache_dir=str(cache))
    (cache_file,) = cache.iterdir()
    os.chmod(cache_file, 0o644)  # group/world readable: not trusted
    again = _queue.scan_queue([str(q)], NOW, cache_dir=str(cache), write_cache=False)
    assert again.files_read == 1 and again.cache["hits"] == 0
    cache_file.write_bytes(b"\x00garbage")
    os.chmod(cache_file, 0o600)
    assert _queue.scan_queue([str(q)], NOW, cache_dir=str(cache)).count == 1


def test_queue_larger_than_the_cache_is_scanned_without_one(tmp_path, fixture_bytes):
    q = tmp_path / "mqueue"
    q.mkdir()
    for n in range(4):
        write_msg(q, f"6ARAcach{n:06d}", fixture_bytes("queue/debian12-8.17.1.9-qf-deferred-relay.bin"), int(NOW))
    s = _queue.scan_queue([str(q)], NOW, cache_dir=str(tmp_path / "c"), cache_max_entries=3)
    assert s.count == 4 and s.cache["written"] is False


def test_a_cache_whose_index_or_sizes_do_not_hold_is_not_used(tmp_path):
    dirs = ["/q"]
    path = _qcache.path_for(str(tmp_path / "c"), dirs)
    for damage in (
        lambda leaf: leaf[0]["name"].update({"qfAAAAAAAA0001": 1}),  # two rows for one index
        lambda leaf: leaf[0].update(name={1: 0, 2: 1}),  # names that are not names
        lambda leaf: leaf[1].update({"dfAAAAAAAA0001": "7"}),  # a size that is not a number
        lambda leaf: leaf[1].update({"dfAAAAAAAA0001": 2**70}),
    ):
        assert _qcache.save(path, dirs, {"/q": (sample().take([0, 2]), {"dfAAAAAAAA0001": 7})}) is None
        assert _qcache.load(path, dirs)["/q"].index == {"qfAAAAAAAA0001": 0, "qfAAAAAAAA0003": 1}
        with open(path, "rb") as fh:
            data = marshal.load(fh)
        damage(data["leaves"]["/q"])
        with open(path, "wb") as fh:
            marshal.dump(data, fh)
        assert _qcache.load(path, dirs) == {}
