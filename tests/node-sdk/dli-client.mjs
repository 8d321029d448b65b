// A DLI datasource-connection client built on the official Node.js core SDK the way its
// generated service clients (@huaweicloud/huaweicloud-sdk-dli's DliClient) are: a
// ClientBuilder whose init wraps the HcClient, and one sendRequest per operation with the
// options the generator emits. Only the four classic operations.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { ClientBuilder } = require('@huaweicloud/huaweicloud-sdk-core/ClientBuilder');
const { BasicCredentials } = require('@huaweicloud/huaweicloud-sdk-core/auth/BasicCredentials');
const { Region } = require('@huaweicloud/huaweicloud-sdk-core/region/region');

const COLLECTION = '/v2.0/{project_id}/datasource-connection';

export class DliClient {
  constructor(hcClient) {
    this.hcClient = hcClient;
  }

  static newBuilder() {
    return new ClientBuilder((hcClient) => new DliClient(hcClient));
  }

  createDatasourceConnection(body) {
    return this.hcClient.sendRequest({
      method: 'POST', url: COLLECTION, contentType: 'application/json;charset=UTF-8',
      queryParams: {}, pathParams: {}, headers: {}, data: body,
    });
  }

  listDatasourceConnections(queryParams = {}) {
    return this.hcClient.sendRequest({
      method: 'GET', url: COLLECTION, contentType: 'application/json',
      queryParams, pathParams: {}, headers: {}, data: {},
    });
  }

  showDatasourceConnection(connectionId) {
    return this.hcClient.sendRequest({
      method: 'GET', url: `${COLLECTION}/{connection_id}`, contentType: 'application/json',
      queryParams: {}, pathParams: { connection_id: connectionId }, headers: {}, data: {},
    });
  }

  deleteDatasourceConnection(connectionId) {
    return this.hcClient.sendRequest({
      method: 'DELETE', url: `${COLLECTION}/{connection_id}`, contentType: 'application/json',
      queryParams: {}, pathParams: { connection_id: connectionId }, headers: {}, data: {},
    });
  }
}

/// A client for `endpoint` and `projectId`; `derived` picks DerivedAKSKSigner
/// (V11-HMAC-SHA256, scoped to `region` and service `dli`) instead of AKSKSigner.
export function dliClient({ endpoint, projectId, ak, sk, derived = false, region = 'cn-north-4' }) {
  const credentials = new BasicCredentials().withAk(ak).withSk(sk).withProjectId(projectId);
  const builder = DliClient.newBuilder().withCredential(credentials);
  if (!derived) {
    return builder.withEndpoint(endpoint).build();
  }
  credentials.withDerivedPredicate(() => true);
  return builder
    .withRegion(new Region(region, endpoint))
    .withDerivedAuthServiceName('dli')
    .build();
}
