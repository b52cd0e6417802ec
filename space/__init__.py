"""The declarative search space. Pure Python: no Keras, Ray or MLflow imports."""

__all__: list[str] = []
