"""The ready-made recipes, installed as the package ``pkd_recipes`` so that a ``pip install`` has them.

Only the YAML files beside this one matter: ``pkd recipes`` lists them,
``pkd recipes copy NAME`` writes one out to edit and ``pkd run NAME`` runs one
(``pkd_toolkit.recipe.packaged`` finds them). Nothing here is imported as code.
"""
