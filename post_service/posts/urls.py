from rest_framework.routers import SimpleRouter

from posts.apis import PostViewSet

router = SimpleRouter(use_regex_path=False)
router.register("posts", PostViewSet, basename="post")
urlpatterns = router.urls
