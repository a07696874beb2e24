"""Fixtures shared by the test modules."""
import pytest


@pytest.fixture(params=["tf_keras", "keras"])
def keras_flavour(request):
    """Each test runs with both Keras flavours: tf_keras (Keras 2) and Keras 3."""
    if request.param == "tf_keras":
        import tf_keras

        return tf_keras
    import keras

    return keras
