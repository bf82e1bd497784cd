// The message format of cross-resource analysis (`meltemi analyze`), shaped after istioctl analyze's.
export type Level = 'Error' | 'Warning' | 'Info';

/** The resource a message is about; `namespace` is absent for cluster-scoped kinds. */
export interface ResourceRef {
  kind: string;
  apiVersion: string;
  namespace?: string;
  name: string;
}

export interface AnalysisMessage {
  /** 'IST0101' …, or 'MLT01xx' for Meltemi's own; every code is listed in codes.ts. */
  code: string;
  level: Level;
  /** The resource the message is about. */
  resource: ResourceRef;
  /** Field path from the resource root (as in src/api/diagnostics.ts FieldPath), for the file:line lookup; [] when none. */
  path: Array<string | number>;
  message: string;
}

export interface AnalyzeOptions {
  /**
   * The mesh's root namespace, whose policies apply to every namespace. Default: the namespace
   * of the ServiceMeshControlPlane when the input holds exactly one (Maistra's root namespace is
   * the control-plane namespace), else `istio-system`.
   */
  rootNamespace?: string;
  /** Kubernetes cluster domain of service host names; default `cluster.local`. */
  clusterDomain?: string;
}
