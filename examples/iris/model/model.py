"""Iris classifier: trains a logistic regression on scikit-learn's bundled iris data in load()
(no download), then answers the species for four measurements in centimetres:
sepal length, sepal width, petal length, petal width."""


class Model:
    def __init__(self, **kwargs):
        self._model = None
        self._names = None

    def load(self):
        from sklearn.datasets import load_iris
        from sklearn.linear_model import LogisticRegression

        data = load_iris()
        self._names = list(data.target_names)
        self._model = LogisticRegression(max_iter=500).fit(data.data, data.target)

    def predict(self, model_input):
        rows = model_input.get("measurements")
        if rows is None:
            raise ValueError('expected {"measurements": [sepal_length, sepal_width, petal_length, petal_width]}')
        single = not isinstance(rows[0], list)
        rows = [rows] if single else rows
        if any(len(r) != 4 for r in rows):
            raise ValueError("each row needs 4 measurements")
        probabilities = self._model.predict_proba(rows)
        answers = []
        for p in probabilities:
            best = int(p.argmax())
            answers.append({
                "class": self._names[best],
                "probabilities": {name: round(float(x), 4) for name, x in zip(self._names, p)},
            })
        return answers[0] if single else {"predictions": answers}
