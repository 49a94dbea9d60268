"""kserve's gRPC v2 server (inference.GRPCInferenceService), bound to the configured host, with versions.

kserve's GRPCServer listens on [::] and ignores model versions; this subclass binds the configured host,
adds the metrics interceptor, caps messages at the body limit, checks the requested version, and answers
requests that do not decode, or name no model, with INVALID_ARGUMENT.
"""
from __future__ import annotations

from concurrent import futures

from grpc import StatusCode, aio
from kserve.errors import InvalidInput
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc.grpc_predict_v2_pb2_grpc import add_GRPCInferenceServiceServicer_to_server
from kserve.protocol.grpc.server import GRPCServer
from kserve.protocol.grpc.servicer import InferenceServicer
from kserve.protocol.model_repository_extension import ModelRepositoryExtension

from rosetta.serving.protocols.errors import QuietExceptionToStatus
from rosetta.serving.protocols.grpc_decoding import MalformedMessageInterceptor
from rosetta.serving.protocols.v2_grpc import infer_plain, is_plain
from rosetta.serving.server.config import ServeConfig
from rosetta.serving.server.dataplane import ServingDataPlane
from rosetta.serving.server.metrics import GrpcMetricsInterceptor, ModelLabels


def _named(name: str) -> None:
    if not name:
        raise InvalidInput("the request names no model: set its model name")


class VersionedServicer(InferenceServicer):
    def __init__(self, dataplane: ServingDataPlane, repository_extension: ModelRepositoryExtension) -> None:
        super().__init__(dataplane, repository_extension)
        self.dataplane = dataplane

    async def ModelReady(self, request: pb.ModelReadyRequest, context: aio.ServicerContext) -> pb.ModelReadyResponse:
        _named(request.name)
        self.dataplane.served_model(request.name, request.version)
        return await super().ModelReady(request, context)

    async def ModelMetadata(self, request: pb.ModelMetadataRequest,
                            context: aio.ServicerContext) -> pb.ModelMetadataResponse:
        _named(request.name)
        self.dataplane.served_model(request.name, request.version)
        metadata = await self.dataplane.model_metadata(request.name, request.version)
        return pb.ModelMetadataResponse(name=metadata["name"], versions=metadata["versions"],
                                        platform=metadata["platform"], inputs=metadata["inputs"],
                                        outputs=metadata["outputs"])

    async def ModelInfer(self, request: pb.ModelInferRequest, context: aio.ServicerContext) -> pb.ModelInferResponse:
        _named(request.model_name)
        model = self.dataplane.served_model(request.model_name, request.model_version)
        if is_plain(request):
            return await infer_plain(model, request)
        return await super().ModelInfer(request, context)

    # Same reason as the REST side: no unauthenticated load/unload.
    async def RepositoryModelLoad(self, request: pb.RepositoryModelLoadRequest,
                                  context: aio.ServicerContext) -> pb.RepositoryModelLoadResponse:
        await context.abort(StatusCode.UNIMPLEMENTED, "model repository control is disabled on this server")

    async def RepositoryModelUnload(self, request: pb.RepositoryModelUnloadRequest,
                                    context: aio.ServicerContext) -> pb.RepositoryModelUnloadResponse:
        await context.abort(StatusCode.UNIMPLEMENTED, "model repository control is disabled on this server")


class ServingGRPCServer(GRPCServer):
    def __init__(self, dataplane: ServingDataPlane, repository_extension: ModelRepositoryExtension,
                 config: ServeConfig, labels: ModelLabels, grace_period: int) -> None:
        super().__init__(config.grpc_port, dataplane, repository_extension, kwargs={}, grace_period=grace_period)
        self.serve_config = config
        self.labels = labels

    async def start(self, max_workers: int) -> None:
        # kserve's per-call LoggingInterceptor is left out: a log line per call, and metrics cover it.
        self._server = aio.server(
            futures.ThreadPoolExecutor(max_workers=max_workers),
            # Outermost first: metrics see every answer, including the INVALID_ARGUMENT for undecodable bytes.
            interceptors=(GrpcMetricsInterceptor(self.labels), MalformedMessageInterceptor(), QuietExceptionToStatus()),
            options=[("grpc.max_send_message_length", self.serve_config.max_body_bytes),
                     ("grpc.max_receive_message_length", self.serve_config.max_body_bytes)])
        servicer = VersionedServicer(self._data_plane, self._model_repository_extension)
        add_GRPCInferenceServiceServicer_to_server(servicer, self._server)
        host = self.serve_config.host
        address = f"[{host}]:{self._port}" if ":" in host else f"{host}:{self._port}"
        if self._server.add_insecure_port(address) == 0:
            raise OSError(f"cannot bind gRPC to {address}")
        await self._server.start()
        await self._server.wait_for_termination()
