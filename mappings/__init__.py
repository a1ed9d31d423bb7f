"""The shared funnel language, as pure code: no I/O beyond reading the dictionary file.

- `model`: canonical stages, outcomes, teams and the `Person` both teams talk about.
- `funnel.yaml` + `dictionary` + `loader`: the funnel dictionary, validated with line numbers.
- `transforms`, `places`: named value transforms (email, phone, country, scalars, tables).
- `stages`: the state machine and the rules that settle conflicting signals.
- `vocabulary` + `apply`: system records <-> canonical people, both directions.
- `check`, `handout`, `schema`: the dictionary against picklists, as a one-page handout,
  and the custom fields it needs in each system.
"""
