import BreakwaterCore

/// The `echo.Echo` service: its name and method descriptors (shaped like generated code).
public enum Echo_Echo {
    /// The fully qualified service name.
    public static let serviceName = "echo.Echo"

    /// The methods of `echo.Echo`.
    public enum Method {
        /// `Get`: unary, returns the text unchanged.
        public enum Get {
            /// The method's descriptor.
            public static let descriptor = MethodDescriptor(service: Echo_Echo.serviceName, method: "Get")
        }

        /// `Expand`: server streaming, one response per word.
        public enum Expand {
            /// The method's descriptor.
            public static let descriptor = MethodDescriptor(service: Echo_Echo.serviceName, method: "Expand")
        }

        /// `Collect`: client streaming, joins the texts with single spaces.
        public enum Collect {
            /// The method's descriptor.
            public static let descriptor = MethodDescriptor(service: Echo_Echo.serviceName, method: "Collect")
        }

        /// `Update`: bidirectional streaming, echoes each message as it arrives.
        public enum Update {
            /// The method's descriptor.
            public static let descriptor = MethodDescriptor(service: Echo_Echo.serviceName, method: "Update")
        }

        /// Every method of the service.
        public static let descriptors: [MethodDescriptor] = [
            Get.descriptor, Expand.descriptor, Collect.descriptor, Update.descriptor,
        ]
    }
}
