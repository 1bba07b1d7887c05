from rest_framework.routers import SimpleRouter

from notes.apis import NoteViewSet

router = SimpleRouter(use_regex_path=False)
router.register("notes", NoteViewSet, basename="note")
urlpatterns = router.urls
