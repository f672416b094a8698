"""Where the course's repository lives: the one copy that ``tools`` reads.

``tools`` is installed without the book's ``_config.yml`` (in Colab, from
the repository), so the source links of :func:`tools.show_source` read the
repository from here. ``scripts/sync_notebooks.py`` writes this file from
``_config.yml``'s ``repository: url / branch``, and its ``--check`` (run by
the tests) fails when the two disagree.
"""

REPOSITORY_URL = "https://github.com/inside-deep-learning/inside-deep-learning"
BRANCH = "main"
