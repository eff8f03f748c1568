"""Continuous-time physics of a scene: fixed 240 Hz substeps, sampled at any frame times.

The simulation never sees the frame rate: it steps at ``SUBSTEP_HZ`` from t=0 and a frame at
time t is the state of the substep before t advanced analytically by the remainder (exact for
straight motion and for the gravity parabola). So the same scene at 8 fps and at 24 fps shares
one trajectory, and world units make it independent of resolution.

Model (world units, y down, see ``kinema.world.scene``):

- objects are discs of radius ``SIZES[size] * scale`` and mass proportional to radius squared;
- the box ``[0, aspect] x [0, 1]`` is a solid wall: elastic bounces off the sides and ceiling,
  and off the floor too unless the object is falling, when the floor bounce keeps a fraction
  ``RESTITUTION`` of the speed (and the object comes to rest below ``REST_SPEED``);
- overlapping discs that approach each other collide elastically (``collision`` event);
  the first contact of ``scene.collision``'s hitter and target turns the target's colour
  (``colour_change`` event);
- an action, from its start time, sets the motion: still / move / bounce set the velocity;
  fall switches gravity on and keeps the velocity; rotate / grow / shrink happen in place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kinema.world.scene import Action, Scene
from kinema.world.vocab import DIRECTIONS, ROTATION_SPEEDS, SPEEDS

SUBSTEP_HZ = 240
GRAVITY = 3.0  # frame heights / s^2
RESTITUTION = 0.6
REST_SPEED = 0.2  # units/s: a floor rebound slower than this settles the object on the floor
GROW_RATE = math.log(1.6) / 1.6  # d(log scale)/dt while growing
SHRINK_RATE = -math.log(2.0) / 1.6
MAX_SCALE, MIN_SCALE = 1.6, 0.5


class _Body:
    """Mutable state of one object during the simulation."""

    __slots__ = ("x", "y", "vx", "vy", "ang", "om", "sc", "rate", "grav", "rest", "r0", "colour", "motion")

    def __init__(self, x: float, y: float, r0: float, colour: str) -> None:
        self.x, self.y, self.vx, self.vy = x, y, 0.0, 0.0
        self.ang, self.om, self.sc, self.rate = 0.0, 0.0, 1.0, 0.0
        self.grav, self.rest = False, False
        self.r0, self.colour, self.motion = r0, colour, "still"

    def apply(self, action: Action) -> None:
        """Start ``action`` (see the module docstring)."""
        m = action.motion
        self.motion = m
        self.om, self.rate = 0.0, 0.0
        if m == "fall":
            self.grav, self.rest = True, False
            return
        self.grav, self.rest = False, False
        self.vx = self.vy = 0.0
        if m in ("move", "bounce"):
            ux, uy = DIRECTIONS[action.direction or "right"]
            v = SPEEDS[action.speed or "slow"]
            self.vx, self.vy = ux * v, uy * v
        elif m == "rotate":
            sign = -1.0 if action.direction == "counterclockwise" else 1.0
            self.om = sign * ROTATION_SPEEDS[action.speed or "slow"]
        elif m == "grow":
            self.rate = GROW_RATE
        elif m == "shrink":
            self.rate = SHRINK_RATE


@dataclass
class Trajectory:
    """States sampled at ``times`` (T,) for the N objects, plus the events of the whole run.

    ``pos``, ``vel``: (T, N, 2) world units and units/s; ``angle``: (T, N) degrees clockwise;
    ``scale``: (T, N); ``colour``: T lists of N colour names; ``steps``: (T,) the substep each
    time was sampled from. ``events``: dicts with ``time``, ``step`` (first substep whose state
    shows the event), ``type`` and ``objects``, sorted by time. ``min_clearance``: the smallest
    distance / (sum of radii) over all pairs and substeps (inf for one object).
    """

    times: np.ndarray
    steps: np.ndarray
    pos: np.ndarray
    vel: np.ndarray
    angle: np.ndarray
    scale: np.ndarray
    colour: list[list[str]]
    events: list[dict]
    min_clearance: float


def simulate(scene: Scene, times: np.ndarray | list[float]) -> Trajectory:
    """Run the physics of ``scene`` from t=0 to ``max(times)`` and sample it at ``times`` (T,)."""
    times = np.asarray(times, dtype=np.float64)
    dt = 1.0 / SUBSTEP_HZ
    steps = np.floor(times * SUBSTEP_HZ + 1e-7).astype(np.int64)
    taus = np.maximum(times - steps * dt, 0.0)
    n_t, n_obj = len(times), len(scene.objects)
    pos = np.zeros((n_t, n_obj, 2))
    vel = np.zeros((n_t, n_obj, 2))
    angle = np.zeros((n_t, n_obj))
    scale = np.ones((n_t, n_obj))
    colour: list[list[str]] = [[] for _ in range(n_t)]
    bodies = [_Body(o.x, o.y, o.radius, o.colour) for o in scene.objects]
    starts = [
        [(math.ceil(a.start * SUBSTEP_HZ - 1e-7), a) for a in o.actions] for o in scene.objects
    ]
    nxt = [0] * n_obj
    hit = scene.collision
    hit_done = False
    events: list[dict] = []
    min_clear = math.inf
    w = scene.aspect
    last = int(steps.max()) if n_t else 0
    k = 0
    order = np.argsort(times, kind="stable")
    for n in range(last + 1):
        t = n * dt
        for i, b in enumerate(bodies):  # actions starting now
            while nxt[i] < len(starts[i]) and starts[i][nxt[i]][0] <= n:
                action = starts[i][nxt[i]][1]
                if nxt[i] > 0:
                    events.append({"time": t, "step": n, "type": "action_change", "objects": [i],
                                   "from": b.motion, "to": action.motion})
                b.apply(action)
                nxt[i] += 1
        while k < n_t and steps[order[k]] == n:  # frames sampled from this substep
            j = order[k]
            _record(bodies, taus[j], pos[j], vel[j], angle[j], scale[j], colour[j])
            k += 1
        if n == last:
            break
        # ---- one substep
        t1 = t + dt
        for i, b in enumerate(bodies):
            if b.grav and not b.rest:
                b.x += b.vx * dt
                b.y += b.vy * dt + 0.5 * GRAVITY * dt * dt
                b.vy += GRAVITY * dt
            else:
                b.x += b.vx * dt
                b.y += b.vy * dt
            if b.om:
                b.ang += b.om * dt
            if b.rate:
                b.sc = min(MAX_SCALE, max(MIN_SCALE, b.sc * math.exp(b.rate * dt)))
            _walls(b, i, w, t1, n + 1, events)
        for i in range(n_obj):
            bi = bodies[i]
            for j in range(i + 1, n_obj):
                bj = bodies[j]
                dx, dy = bj.x - bi.x, bj.y - bi.y
                rs = (bi.r0 * bi.sc) + (bj.r0 * bj.sc)
                d = math.sqrt(dx * dx + dy * dy)
                if d / rs < min_clear:
                    min_clear = d / rs
                if d >= rs:
                    continue
                nx, ny = (dx / d, dy / d) if d > 1e-9 else (1.0, 0.0)
                rel = (bj.vx - bi.vx) * nx + (bj.vy - bi.vy) * ny
                if rel >= 0:
                    continue  # separating already
                mi, mj = (bi.r0 * bi.sc) ** 2, (bj.r0 * bj.sc) ** 2
                p = 2.0 * rel / (mi + mj)
                bi.vx += p * mj * nx
                bi.vy += p * mj * ny
                bj.vx -= p * mi * nx
                bj.vy -= p * mi * ny
                push = rs - d  # separate the discs, lighter one moves more
                bi.x -= push * mj / (mi + mj) * nx
                bi.y -= push * mj / (mi + mj) * ny
                bj.x += push * mi / (mi + mj) * nx
                bj.y += push * mi / (mi + mj) * ny
                bi.rest = bj.rest = False
                events.append({"time": t1, "step": n + 1, "type": "collision", "objects": [i, j]})
                if hit is not None and not hit_done and {i, j} == {hit.hitter, hit.target}:
                    hit_done = True
                    target = bodies[hit.target]
                    events.append({"time": t1, "step": n + 1, "type": "colour_change",
                                   "objects": [hit.target], "from": target.colour, "to": hit.colour})
                    target.colour = hit.colour
    return Trajectory(times, steps, pos, vel, angle, scale, colour, events, min_clear)


def _walls(b: _Body, i: int, w: float, t: float, step: int, events: list[dict]) -> None:
    """Keep body ``b`` inside ``[0, w] x [0, 1]``, bouncing (and logging events) off the walls."""
    r = b.r0 * b.sc
    if b.x < r:
        b.x = min(2 * r - b.x, w - r) if b.vx < 0 else r
        if b.vx < 0:
            b.vx = -b.vx
            events.append({"time": t, "step": step, "type": "wall_bounce", "objects": [i], "wall": "left"})
    elif b.x > w - r:
        b.x = max(2 * (w - r) - b.x, r) if b.vx > 0 else w - r
        if b.vx > 0:
            b.vx = -b.vx
            events.append({"time": t, "step": step, "type": "wall_bounce", "objects": [i], "wall": "right"})
    if b.y < r:
        b.y = min(2 * r - b.y, 1 - r) if b.vy < 0 else r
        if b.vy < 0:
            b.vy = -b.vy
            events.append({"time": t, "step": step, "type": "wall_bounce", "objects": [i], "wall": "top"})
    elif b.y > 1 - r:
        if b.vy <= 0:
            b.y = 1 - r
            return
        b.y = max(2 * (1 - r) - b.y, r)
        if b.grav:
            b.vy = -RESTITUTION * b.vy
            if -b.vy < REST_SPEED:
                b.vy, b.y, b.rest = 0.0, 1 - r, True
            events.append({"time": t, "step": step, "type": "floor_bounce", "objects": [i]})
        else:
            b.vy = -b.vy
            events.append({"time": t, "step": step, "type": "wall_bounce", "objects": [i], "wall": "bottom"})


def _record(bodies: list[_Body], tau: float, pos: np.ndarray, vel: np.ndarray, angle: np.ndarray,
            scale: np.ndarray, colour: list[str]) -> None:
    """Write the state ``tau`` seconds after the current substep into one time row."""
    for i, b in enumerate(bodies):
        falling = b.grav and not b.rest
        g = GRAVITY if falling else 0.0
        pos[i, 0] = b.x + b.vx * tau
        pos[i, 1] = b.y + b.vy * tau + 0.5 * g * tau * tau
        vel[i, 0] = b.vx
        vel[i, 1] = b.vy + g * tau
        angle[i] = b.ang + b.om * tau
        scale[i] = min(MAX_SCALE, max(MIN_SCALE, b.sc * math.exp(b.rate * tau)))
        colour.append(b.colour)
