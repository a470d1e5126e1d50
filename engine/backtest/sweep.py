"""The policies of a backtest, run in parallel: local worker processes by default, a Ray cluster
when one is configured (same job function; Ray is an optional dependency).

A job is (config path, policy name). The bars are read once, by the process that starts the
sweep, and shared: local workers map one copy of the columns from files (`BarData.share`,
read-only memory maps, nothing copied per worker), Ray workers read them from its object store.
Only the results come back.
"""

from __future__ import annotations

import functools
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor

from engine.core.errors import ConfigError
from engine.node.config import DriftCfg, EngineConfig, PolicyCfg, load_config


def expand_policies(cfg: EngineConfig) -> list[PolicyCfg]:
    """The listed policies plus the sweep grid (band × mode, absolute and relative)."""
    bt = cfg.backtest
    out = list(bt.policies)
    sw = bt.sweep
    if sw is not None:
        for mode in sw.modes:
            for b in sw.abs_bands:
                out.append(PolicyCfg(name=f"band_abs_{b * 100:g}pct_{mode}",
                                     drift=DriftCfg(abs_band=b, mode=mode)))
            for b in sw.rel_bands:
                out.append(PolicyCfg(name=f"band_rel_{b * 100:g}pct_{mode}",
                                     drift=DriftCfg(rel_band=b, mode=mode)))
    names = [p.name for p in out]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ConfigError(f"policy names appear twice (listed and swept?): {sorted(dup)}")
    return out


@functools.lru_cache(maxsize=4)
def _load(cfg_path: str):
    from engine.backtest.data import load_bar_data

    cfg = load_config(cfg_path)
    return cfg, load_bar_data(cfg.backtest, cfg_path), {p.name: p for p in
                                                         expand_policies(cfg)}


# config path -> (config, bars, policies) handed to this worker process by the sweep
_ADOPTED: dict[str, tuple] = {}


def _adopt(cfg_path: str, data) -> None:
    """A worker's start: the sweep's shared bars (memory-mapped) for `cfg_path`."""
    cfg = load_config(cfg_path)
    _ADOPTED[cfg_path] = (cfg, data, {p.name: p for p in expand_policies(cfg)})


def run_job(cfg_path: str, name: str, detail: bool = False, data=None):
    """Run one policy of the config at `cfg_path` (in whatever process this is)."""
    from engine.backtest.run import run_policy

    if data is not None:  # handed over by Ray's object store
        cfg = load_config(cfg_path)
        policies = {p.name: p for p in expand_policies(cfg)}
    else:
        cfg, data, policies = _ADOPTED.get(cfg_path) or _load(cfg_path)
    return run_policy(cfg, policies[name], data, cfg.backtest, detail=detail)


def run_all(cfg_path: str, names: list[str], workers: int = 1,
            ray_address: str | None = None, progress=None, detail: bool = False) -> dict:
    """Results by policy name, in `names` order."""
    cfg_path = os.path.abspath(cfg_path)
    if ray_address:
        return _run_ray(cfg_path, names, ray_address, detail)
    if workers <= 1 or len(names) <= 1:
        out = {}
        for n in names:
            out[n] = run_job(cfg_path, n, detail)
            if progress:
                progress(n)
        return out
    _, data, _ = _load(cfg_path)
    with tempfile.TemporaryDirectory(prefix="ballast-bars-") as tmp:
        shared = data.share(tmp)
        with ProcessPoolExecutor(max_workers=workers, initializer=_adopt,
                                 initargs=(cfg_path, shared)) as pool:
            futs = {n: pool.submit(run_job, cfg_path, n, detail) for n in names}
            out = {}
            for n in names:
                out[n] = futs[n].result()
                if progress:
                    progress(n)
            return out


def _run_ray(cfg_path: str, names: list[str], address: str, detail: bool = False) -> dict:
    try:
        import ray
    except ImportError:
        raise ConfigError("backtest.ray_address is set but Ray is not installed "
                          "(pip install 'ballast[ray]')") from None
    ray.init(address=address, ignore_reinit_error=True)
    _, data, _ = _load(cfg_path)
    bars = ray.put(data)  # once in the object store; its arrays are read there, not copied
    job = ray.remote(run_job)
    refs = [job.remote(cfg_path, n, detail, bars) for n in names]
    return dict(zip(names, ray.get(refs)))
