"""Copy and move tasks, run by live clients on the master's behalf."""

import uuid

from mooncake.store import ErrorCode, QueryTaskResponse, ReplicateConfig, TaskStatus, TaskType
from mooncake_testing import unique_key, wait_until

FINISHED = (TaskStatus.SUCCESS, TaskStatus.FAILED)


def endpoints(store, key):
    return sorted(r.get_memory_descriptor().buffer_descriptor.transport_endpoint
                  for r in store.get_replica_desc(key))


def wait_for_task(store, task_id):
    def finished():
        response, code = store.query_task(task_id)
        assert code == 0, code
        return response if response.status in FINISHED else None
    return wait_until(finished, deadline_s=90, interval_s=0.2, what=f"task {task_id}")


def test_copy_task_adds_replicas(store_factory):
    source, first, second = store_factory(), store_factory(), store_factory()
    key = unique_key()
    on_source = ReplicateConfig(preferred_segment=source.get_hostname())
    assert source.put(key, b"copy me", on_source) == 0
    task_id, code = source.create_copy_task(key, [first.get_hostname(), second.get_hostname()])
    assert code == 0
    assert isinstance(task_id, tuple) and len(task_id) == 2 and task_id != (0, 0)
    response = wait_for_task(source, task_id)
    assert isinstance(response, QueryTaskResponse)
    assert response.status == TaskStatus.COMPLETED == TaskStatus.SUCCESS, response.message
    assert response.type == TaskType.REPLICA_COPY
    assert response.id == task_id
    assert response.created_at_ms_epoch > 0
    assert response.last_updated_at_ms_epoch >= response.created_at_ms_epoch
    assert isinstance(response.message, str)
    assert isinstance(response.assigned_client, tuple)
    # The same id as a uuid.UUID (the spec's type) finds the same task.
    as_uuid = uuid.UUID(int=(task_id[0] << 64) | task_id[1])
    assert source.query_task(as_uuid)[0].id == task_id
    assert endpoints(source, key) == sorted(
        [source.get_hostname(), first.get_hostname(), second.get_hostname()])
    assert second.get(key) == b"copy me"


def test_move_task_changes_the_segment(store_factory):
    source, target = store_factory(), store_factory()
    key = unique_key()
    on_source = ReplicateConfig(preferred_segment=source.get_hostname())
    assert source.put(key, b"move me", on_source) == 0
    task_id, code = source.create_move_task(key, source.get_hostname(), target.get_hostname())
    assert code == 0 and task_id != (0, 0)
    response = wait_for_task(target, task_id)
    assert response.status == TaskStatus.SUCCESS, response.message
    assert response.type == TaskType.REPLICA_MOVE
    assert endpoints(source, key) == [target.get_hostname()]
    assert source.get(key) == b"move me"


def test_task_errors(store):
    missing = unique_key("missing")
    assert store.create_copy_task(missing, [store.get_hostname()]) == \
        ((0, 0), ErrorCode.OBJECT_NOT_FOUND)
    task_id, code = store.create_move_task(missing, store.get_hostname(), "127.0.0.1:1")
    assert task_id == (0, 0) and code < 0
    key = unique_key()
    assert store.put(key, b"x") == 0
    task_id, code = store.create_copy_task(key, ["no-such-segment:1"])
    assert task_id == (0, 0) and code < 0
    for unknown in ((12345, 67890), (1, 1), uuid.UUID(int=(5 << 64) | 7)):
        response, code = store.query_task(task_id=unknown)
        assert response is None and code < 0
