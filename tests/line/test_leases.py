"""Machine leases on real databases (a SQLite file and a PostgreSQL schema per test): all of
a run's machines or none, one winner among threads and among processes, expiry and
takeover, renewal in the background, a stolen lease found, release on errors.

Processes are real (``sys.executable -c HOLDER``): a holder that keeps its lease until the
test closes its stdin, or kills itself with SIGKILL once it holds it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import select

from line.db import make_engine, session_scope
from line.leases import (
    ACTOR_LENGTH,
    Lease,
    LeaseLost,
    LeaseStatus,
    MachinesBusy,
    Worker,
    acquire,
    hold,
    leases,
    release,
    renew,
    take,
    worker_identity,
)
from line.models import MachineLease
from line.types import utc_now
from tests.conftest import PG_URL

STATION = ["print-01", "encode-01", "qc-01"]
T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
TTL = timedelta(seconds=60)
ROOT = Path(__file__).resolve().parents[2]
ELSEWHERE = Worker("host2", 4242, None)  # a worker on another host: never seen dead from here


class Clock:
    """A clock that says what the test sets."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def twin(engine: Engine) -> Engine:
    """Another engine on the same database, as another worker process has."""
    if engine.dialect.name == "sqlite":
        return make_engine(engine.url.render_as_string(hide_password=False))
    return make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema_of(engine)}"})


def schema_of(engine: Engine) -> str:
    if engine.dialect.name == "sqlite":
        return ""
    with engine.connect() as connection:
        return str(connection.execute(sa.text("SELECT current_schema()")).scalar_one())


def get(engine: Engine, holder: str, at: datetime, machines: list[str] = STATION) -> Lease:
    with session_scope(engine) as session:
        return acquire(
            session=session, machines=machines, holder=holder, at=at, ttl=TTL, worker=ELSEWHERE
        )


def rows(engine: Engine) -> dict[str, MachineLease]:
    with session_scope(engine) as session:
        return {r.machine: r for r in session.exec(select(MachineLease)).all()}


def test_the_actor_names_the_worker_process_within_the_record_column() -> None:
    assert Worker("host1", 4242, None).actor("cardline-run", "HN1") == "cardline-run@HN1/host1:4242"
    assert worker_identity("prefect:production", "HN1", worker=Worker("host1", 7, None)) == (
        "prefect:production@HN1/host1:7"
    )
    here = worker_identity("cardline-run", "HN1")
    assert here.startswith("cardline-run@HN1/") and here.endswith(f":{os.getpid()}")
    assert socket.gethostname()[:8] in here
    # A long host name is cut to its first label, then to what fits: the pid always stays.
    fqdn = Worker("line-worker-07.production.hn1.example.gov.vn", 4194303, None)
    assert (
        fqdn.actor("prefect:production", "HN1") == "prefect:production@HN1/line-worker-07:4194303"
    )
    long = Worker("x" * 80, 4194303, None).actor("prefect:production", "HN1")
    assert len(long) == ACTOR_LENGTH and long.endswith(":4194303")


def test_a_run_takes_all_of_its_machines_or_none(engine: Engine) -> None:
    first = get(engine, "cardline-run@HN1/host1:1", T0)
    assert first.machines == ("encode-01", "print-01", "qc-01")
    assert first.expires_at == T0 + TTL

    with pytest.raises(MachinesBusy) as busy:  # one machine in common is enough to refuse
        get(engine, "cardline-run@HN1/host2:2", T0 + timedelta(seconds=5), ["encode-01", "qc-02"])
    message = str(busy.value)
    assert message.startswith(
        "machines busy: encode-01 held by cardline-run@HN1/host1:1 since 2026-11-24 08:00:00 UTC "
        "(lease until 08:01:00 UTC unless renewed)"
    )
    assert "\n" not in message and busy.value.fields["holders"] == ["cardline-run@HN1/host1:1"]
    with session_scope(engine) as session:
        now = leases(session=session, at=T0 + timedelta(seconds=5))
    assert {name for name, s in now.items() if s.held} == set(STATION)  # qc-02 not taken
    assert "qc-02" not in now or not now["qc-02"].held
    # qc-02 alone is free for the second run.
    assert get(engine, "cardline-run@HN1/host2:2", T0, ["qc-02"]).machines == ("qc-02",)


def test_two_threads_with_their_own_engines_exactly_one_gets_the_machines(engine: Engine) -> None:
    get(engine, "warm-up", T0 - timedelta(hours=1))  # rows made, long expired
    contenders = 6
    barrier = threading.Barrier(contenders)
    got: list[Lease] = []
    refused: list[MachinesBusy] = []
    failed: list[BaseException] = []

    def contend(i: int) -> None:
        own = twin(engine)
        try:
            barrier.wait(timeout=60)
            got.append(
                take(
                    engine=own,
                    machines=STATION,
                    holder=f"run-{i}",
                    clock=utc_now,
                    ttl=TTL,
                    worker=ELSEWHERE,
                )  # fmt: skip
            )
        except MachinesBusy as error:
            refused.append(error)
        except BaseException as error:  # noqa: BLE001 - reported below
            failed.append(error)
        finally:
            own.dispose()

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failed == []
    assert len(got) == 1 and len(refused) == contenders - 1
    winner = got[0].holder
    for error in refused:  # each loser is told who holds them
        assert f"held by {winner} since" in str(error), str(error)
    assert {r.holder for r in rows(engine).values()} == {winner}


HOLDER = """
import sys
import structlog
structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))  # stdout: answers
from line.db import make_engine
from line.leases import MachinesBusy, take, worker_identity
url, schema = sys.argv[1:3]
kwargs = {"connect_args": {"options": f"-csearch_path={schema}"}} if schema else {}
engine = make_engine(url, **kwargs)
from line.types import utc_now
actor = worker_identity("lease-test", "HN1")
try:
    held = take(engine=engine, machines=["print-01", "encode-01", "qc-01"], holder=actor,
                clock=utc_now)
except MachinesBusy as busy:
    print(f"busy {busy}", flush=True)
    sys.exit(3)
print(f"got {actor}", flush=True)
sys.stdin.read()  # hold the machines until the test closes stdin
from line.db import session_scope
from line.leases import release
with session_scope(engine) as session:
    release(session=session, lease=held, at=utc_now())
print("released", flush=True)
"""


@pytest.fixture
def holders(engine: Engine) -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def holder(engine: Engine, started: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    url = engine.url.render_as_string(hide_password=False)
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url, schema_of(engine)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    started.append(process)
    return process


def test_two_processes_racing_exactly_one_gets_the_machines_the_other_is_told_who(
    engine: Engine, holders: list[subprocess.Popen[str]]
) -> None:
    get(engine, "warm-up", T0 - timedelta(hours=1))
    a, b = holder(engine, holders), holder(engine, holders)
    first = {a: a.stdout.readline(), b: b.stdout.readline()}  # type: ignore[union-attr]
    winners = [p for p, line in first.items() if line.startswith("got ")]
    assert len(winners) == 1, first
    (winner,) = winners
    (loser,) = [p for p in first if p is not winner]
    actor = first[winner].split()[1]
    assert actor == Worker(socket.gethostname(), winner.pid, None).actor("lease-test", "HN1")
    assert loser.wait(timeout=60) == 3
    assert f"held by {actor} since" in first[loser]
    assert winner.poll() is None  # still holding
    out, _ = winner.communicate("", timeout=60)  # close stdin: it releases and ends
    assert winner.returncode == 0 and out.strip() == "released"
    assert not any(s.held for s in _leases_now(engine).values())


def _leases_now(engine: Engine) -> dict[str, LeaseStatus]:
    with session_scope(engine) as session:
        return dict(leases(session=session, at=utc_now()))


def test_an_expired_lease_is_taken_over_and_its_old_holder_loses_it(engine: Engine) -> None:
    old = get(engine, "cardline-run@HN1/host1:1", T0)
    with pytest.raises(MachinesBusy):
        get(engine, "cardline-run@HN1/host2:2", T0 + TTL - timedelta(seconds=1))
    new = get(engine, "cardline-run@HN1/host2:2", T0 + TTL + timedelta(seconds=1))
    assert new.token != old.token
    assert {r.holder for r in rows(engine).values()} == {"cardline-run@HN1/host2:2"}

    with pytest.raises(LeaseLost) as lost, session_scope(engine) as session:
        renew(session=session, lease=old, at=T0 + TTL + timedelta(seconds=2), ttl=TTL)
    assert str(lost.value).startswith(
        "lost the lease on encode-01, print-01, qc-01: now encode-01, print-01, qc-01 held by "
        "cardline-run@HN1/host2:2 since 2026-11-24 08:01:01 UTC"
    )
    with session_scope(engine) as session:  # the old holder's release takes nothing
        assert release(session=session, lease=old, at=T0 + TTL + timedelta(seconds=3)) == 0
        renewed = renew(session=session, lease=new, at=T0 + TTL + timedelta(seconds=3), ttl=TTL)
    assert renewed.expires_at == T0 + 2 * TTL + timedelta(seconds=3)


def test_a_holder_killed_on_this_host_is_taken_over_at_once(
    engine: Engine, holders: list[subprocess.Popen[str]]
) -> None:
    """A live holder on this host is waited for; once it is killed with SIGKILL its lease
    has most of a minute to run, but the pid it names is gone here: no need to wait."""
    process = holder(engine, holders)
    line = process.stdout.readline()  # type: ignore[union-attr]
    assert line.startswith("got "), line
    busy = f"held by lease-test@HN1/.*:{process.pid} since"
    with pytest.raises(MachinesBusy, match=busy), session_scope(engine) as session:
        acquire(session=session, machines=STATION, holder="next-run", at=utc_now())

    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL
    before = rows(engine)
    assert {r.pid for r in before.values()} == {process.pid}
    assert all(r.expires_at is not None and r.expires_at > utc_now() for r in before.values())
    with session_scope(engine) as session:
        lease = acquire(session=session, machines=STATION, holder="next-run", at=utc_now())
    assert lease.holder == "next-run"
    assert {r.pid for r in rows(engine).values()} == {os.getpid()}


def test_waiting_gets_the_machines_once_the_holder_releases_them(engine: Engine) -> None:
    waiting = threading.Event()
    result: list[Lease | BaseException] = []

    def pause(seconds: float) -> None:
        waiting.set()
        time.sleep(min(seconds, 0.2))

    with hold(engine=engine, machines=STATION, holder="first", clock=utc_now, ttl=TTL):
        second = twin(engine)

        def wait_for_them() -> None:
            try:
                result.append(
                    take(
                        engine=second,
                        machines=STATION,
                        holder="second",
                        clock=utc_now,
                        ttl=TTL,
                        wait=timedelta(minutes=5),
                        sleep=pause,
                    )  # fmt: skip
                )
            except BaseException as error:  # noqa: BLE001 - asserted below
                result.append(error)

        thread = threading.Thread(target=wait_for_them)
        thread.start()
        assert waiting.wait(timeout=60)  # it found them busy and waits
        assert result == []
    thread.join(timeout=60)  # "first" released them on leaving the block
    second.dispose()
    assert len(result) == 1 and isinstance(result[0], Lease), result
    assert result[0].holder == "second"


def test_waiting_gives_up_after_the_wait_naming_the_holder(engine: Engine) -> None:
    get(engine, "cardline-run@HN1/host1:1", T0)
    clock = Clock(T0 + timedelta(seconds=1))
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # time passes only when the waiter sleeps
        slept.append(seconds)
        clock.now += timedelta(seconds=seconds)

    with pytest.raises(MachinesBusy) as busy:
        take(
            engine=engine, machines=STATION, holder="second", clock=clock, ttl=TTL,
            wait=timedelta(seconds=5), poll=timedelta(seconds=2), sleep=sleep,
        )  # fmt: skip
    assert slept == [2.0, 2.0, 1.0]
    assert str(busy.value).startswith(
        "machines busy after waiting 5 s: encode-01, print-01, qc-01 held by "
        "cardline-run@HN1/host1:1 since 2026-11-24 08:00:00 UTC"
    )


def test_the_renewal_thread_extends_the_lease_and_the_end_releases_it(engine: Engine) -> None:
    ttl = timedelta(seconds=0.9)  # renewed every 0.3 s
    with hold(engine=engine, machines=STATION, holder="driver", clock=utc_now, ttl=ttl) as held:
        taken = held.lease
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = rows(engine)
            if all(
                r.renewed_at is not None and r.renewed_at > taken.acquired_at for r in now.values()
            ):
                break
            time.sleep(0.1)
        assert all(
            r.renewed_at is not None and r.renewed_at > taken.acquired_at for r in now.values()
        )
        assert all(r.token == taken.token for r in now.values())
        held.check()  # still ours
    after = rows(engine)
    assert {(r.holder, r.token, r.pid) for r in after.values()} == {("driver", None, None)}
    assert not any(s.held for s in _leases_now(engine).values())


def test_a_renewal_that_finds_the_lease_taken_stops_the_run(engine: Engine) -> None:
    """The run's lease ran out (it was stalled) and another run took the machines: the
    renewal thread finds another token, and the run's next ``check()`` raises."""
    ttl = timedelta(seconds=1.5)
    with hold(engine=engine, machines=STATION, holder="stalled", clock=utc_now, ttl=ttl) as held:
        thief = twin(engine)
        later = utc_now() + ttl + timedelta(seconds=1)  # the thief sees the lease run out
        with session_scope(thief) as session:
            acquire(
                session=session, machines=STATION, holder="cardline-run@HN1/host2:2", at=later,
                ttl=TTL, worker=ELSEWHERE,
            )  # fmt: skip
        thief.dispose()
        deadline = time.monotonic() + 30
        while held.lost is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert held.lost is not None  # the thread found it, not check()
        with pytest.raises(
            LeaseLost, match="now encode-01, print-01, qc-01 held by cardline-run@HN1/host2:2"
        ):
            held.check()
    # Leaving the block released nothing of the thief's.
    assert {r.holder for r in rows(engine).values()} == {"cardline-run@HN1/host2:2"}
    assert all(r.token is not None for r in rows(engine).values())


def test_the_lease_is_released_when_the_run_fails(engine: Engine) -> None:
    with (
        pytest.raises(RuntimeError, match="printer on fire"),
        hold(engine=engine, machines=STATION, holder="failing", clock=utc_now, ttl=TTL),
    ):
        raise RuntimeError("printer on fire")
    assert not any(s.held for s in _leases_now(engine).values())
    assert get(engine, "next", utc_now()).holder == "next"
